#!/usr/bin/env bash
# bf16 against fp32 (issue 25): training tokens/s of pretrain --precision bf16 and --precision fp32 beside
# PyTorch fp32 (denormals flushed, bench/torch_ftz.py) and PyTorch with CPU autocast to bf16
# (bench/torch_autocast.py), in one run on the same threads, on bench/pretrain.sh's GPT shapes (S: 6 layers,
# 6 heads, 384 wide, ctx 256, batch 8; GPT-2 124M: ctx 256, batch 4; vocab 50257, random-free real text) and
# bench/bert.sh's BERT (4 layers, 256 wide, seq 128, batch 32). First the product rates alone (gemm-peak
# --training: a 124M step's products, fp32 OpenBLAS against bf16 oneDNN). The four run in alternation for
# --rounds N (default 3; this VM's speed drifts) and the figures are the medians of the rounds. Targets: 124M
# bf16 at least 1.6x pretrain fp32 and 2.5x PyTorch fp32.
# OPENBLAS_CORETYPE is unset for our commands (it slows OpenBLAS on this machine); PyTorch runs with it set
# to the kernels ours pick. Run on an otherwise idle machine.
#   bench/precision.sh [--threads N] [--steps N] [--rounds N] [--only gpt-s|gpt-124m|bert]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 steps=10 rounds=3 only=""
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: bench/precision.sh [--threads N] [--steps N] [--rounds N] [--only gpt-s|gpt-124m|bert]" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench/precision.sh: error: --rounds must be a positive integer, not '$rounds'" >&2; exit 2; }
[ -x build/cmd/pretrain ] && [ -x build/bench/gemm-peak ] || .ci/setup
/usr/bin/python3 -c 'import torch' 2> /dev/null || { echo "bench: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
export OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=1000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=bench/lib.sh
source bench/lib.sh
ours() { env -u OPENBLAS_CORETYPE "$@"; }

ours build/bench/gemm-peak --training --threads "$threads" | tee "$work/gemm"
kernels=$(sed -n 's/.*kernels=\([A-Za-z0-9]*\).*/\1/p' "$work/gemm")

head -c 4000000 ../shared/data/bench/bench-corpus.txt | build/cmd/tok-encode -v gpt2 |
  build/cmd/make-pairs --task causal --max-len 256 --quiet -o "$work/windows.shard"
cat ../shared/data/wikitext-2/wiki.valid.tokens ../shared/data/wikitext-2/wiki.test.tokens |
  build/cmd/tok-encode --docs -v bert-base-uncased --quiet |
  build/cmd/make-pairs --task nsp --max-len 128 --short-seq-prob 0 --quiet |
  build/cmd/mask-corpus --max-predictions 19 --quiet -o "$work/train.masked"

# tokens/s of one pretrain run: the median step after two warm-up steps, as torch_ref.py times it.
pretrain_rate() {
  rm -rf "$work/run" "$work/log"
  ours build/cmd/pretrain "$@" --steps $((steps + 2)) --threads "$threads" --quiet -o "$work/run" --log "$work/log"
  jq -s '[.[] | select(.step > 2 and .tokens_per_s != null) | .tokens_per_s] | sort | .[length / 2 | floor]' "$work/log"
}
torch_rate() {
  OPENBLAS_CORETYPE=$kernels /usr/bin/python3 "$@" --threads "$threads" --steps "$steps" --warmup 2 |
    sed -n 's/^RESULT .*tokens_per_s=\([0-9.]*\).*/\1/p'
}

# NAME, pretrain's flags, then -- and torch_ref.py's arguments.
compare() {
  local name=$1; shift
  local flags=() torch_args=()
  while [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  torch_args=("$@")
  echo "== $name"
  local f32_all="" b16_all="" t32_all="" t16_all="" round f32 b16 t32 t16
  for round in $(seq "$rounds"); do
    f32=$(pretrain_rate "${flags[@]}" --precision fp32)
    b16=$(pretrain_rate "${flags[@]}" --precision bf16)
    t32=$(torch_rate bench/torch_ftz.py "${torch_args[@]}")
    t16=$(torch_rate bench/torch_autocast.py "${torch_args[@]}")
    echo "  round $round: pretrain fp32 $f32, bf16 $b16; PyTorch fp32 $t32, autocast bf16 $t16 tokens/s"
    f32_all+=" $f32" b16_all+=" $b16" t32_all+=" $t32" t16_all+=" $t16"
  done
  awk -v f32="$(median <<< "$f32_all")" -v b16="$(median <<< "$b16_all")" -v t32="$(median <<< "$t32_all")" \
      -v t16="$(median <<< "$t16_all")" 'BEGIN{
    printf "  medians: pretrain fp32 %.1f, pretrain bf16 %.1f, PyTorch fp32 %.1f, PyTorch autocast bf16 %.1f tokens/s\n", f32, b16, t32, t16
    printf "  pretrain bf16: %.2fx pretrain fp32, %.2fx PyTorch fp32, %.2fx PyTorch autocast bf16 (pretrain fp32: %.2fx PyTorch fp32)\n", b16 / f32, b16 / t32, b16 / t16, f32 / t32
  }'
}

echo "torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), $threads threads, $steps timed steps each, $rounds rounds"
gpt=(--preset gpt2 --max-len 256 --data "$work/windows.shard")
[ -z "$only" ] || [ "$only" = gpt-s ] && compare "GPT S: 6 layers, 6 heads, 384 wide, ctx 256, batch 8, vocab 50257" \
  "${gpt[@]}" --n-layer 6 --n-head 6 --d-model 384 --batch-size 8 -- \
  gpt-train --n-layer 6 --n-head 6 --d-model 384 --ctx 256 --batch 8 --vocab 50257
[ -z "$only" ] || [ "$only" = gpt-124m ] && compare "GPT-2 124M: ctx 256, batch 4" "${gpt[@]}" --batch-size 4 -- \
  gpt-train --n-layer 12 --n-head 12 --d-model 768 --ctx 256 --batch 4 --vocab 50257
[ -z "$only" ] || [ "$only" = bert ] && compare "BERT: 4 layers, 4 heads, 256 wide, FFN 1024, seq 128, batch 32, vocab 30522" \
  --arch bert --preset bert-base --n-layer 4 --n-head 4 --d-model 256 --d-ff 1024 --max-len 128 --batch-size 32 \
  --warmup 1 --lr 1e-4 --dropout 0 --data "$work/train.masked" -- \
  bert-train --n-layer 4 --n-head 4 --d-model 256 --d-ff 1024 --ctx 128 --batch 32 --vocab 30522
true
