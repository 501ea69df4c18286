#!/usr/bin/env bash
# BERT training throughput (tokens/s of forward + backward + Adam, fp32, MLM at masked positions only + NSP)
# and peak memory of pretrain --arch bert against the same BERT in plain PyTorch (../shared/bench/torch_ref.py
# bert-train, Debian's python3-torch, which also projects onto the vocabulary only at masked positions), in one
# run on the same threads, on issue 6's shape: 4 layers, 4 heads, 256 wide, FFN 1024, seq 128, batch 32, vocab
# 30522. Target: >= 1.5x PyTorch, no more memory. PyTorch runs with OPENBLAS_CORETYPE set to the kernels
# pretrain picks, and once more with denormals flushed to zero as pretrain runs (bench/torch_ftz.py); the ratio
# is against the faster. Neither uses dropout. lmpipe's batches are real WikiText-2 pairs (make-pairs --task nsp --max-len 128
# --short-seq-prob 0 | mask-corpus), padded to 128, with as many masked positions as PyTorch's 15% or fewer.
# Run on an otherwise idle machine. This VM's speed drifts from minute to minute (the same binary's ratio
# differs widely between consecutive runs), so pretrain and the denormal-flushed PyTorch run in
# alternation for several rounds and the ratio printed is the median of the rounds' ratios.
#   bench/bert.sh [--threads N] [--steps N] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 steps=10 rounds=3
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: bench/bert.sh [--threads N] [--steps N] [--rounds N]" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench/bert.sh: error: --rounds must be a positive integer, not '$rounds'" >&2; exit 2; }
[ -x build/cmd/pretrain ] && [ -x build/bench/gemm-peak ] || .ci/setup
/usr/bin/python3 -c 'import torch' 2> /dev/null || { echo "bench: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
torch_ref=../shared/bench/torch_ref.py
corpus=../shared/data/wikitext-2
export OMP_WAIT_POLICY=PASSIVE
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat "$corpus"/wiki.valid.tokens "$corpus"/wiki.test.tokens | build/cmd/tok-encode --docs -v bert-base-uncased --quiet |
  build/cmd/make-pairs --task nsp --max-len 128 --short-seq-prob 0 --quiet |
  build/cmd/mask-corpus --max-predictions 19 --quiet -o "$work/train.masked"
stats=$(build/cmd/shard-cat --stats "$work/train.masked")
kernels=$(build/bench/gemm-peak --threads "$threads" | sed 's/.*kernels=\([A-Za-z0-9]*\).*/\1/')

# shellcheck source=bench/lib.sh
source bench/lib.sh

# torch_ref.py's BERT has no dropout, so pretrain runs without it too (--dropout 0): the same work. BERT's
# recipe's 0.1 would add pretrain's hash-keyed masks (forward and backward) to one side only.
flags=(--arch bert --preset bert-base --n-layer 4 --n-head 4 --d-model 256 --d-ff 1024 --max-len 128 --batch-size 32
       --warmup 1 --lr 1e-4 --dropout 0)
torch_args=(bert-train --n-layer 4 --n-head 4 --d-model 256 --d-ff 1024 --ctx 128 --batch 32 --vocab 30522
            --threads "$threads" --steps "$steps" --warmup 2)
# PyTorch with the kernels pretrain picks but denormals left on runs once: denormals make it much slower.
tuned_kb=$(OPENBLAS_CORETYPE=$kernels measure "$work/torch1" /usr/bin/python3 "$torch_ref" "${torch_args[@]}")
tuned=$(sed -n 's/^RESULT .*tokens_per_s=\([0-9.]*\).*/\1/p' "$work/torch1")
ours_all="" ftz_all="" ratios="" ours_kb=0 ftz_kb=0
for round in $(seq "$rounds"); do
  rm -rf "$work/run" "$work/log"
  kb=$(measure /dev/null build/cmd/pretrain "${flags[@]}" --data "$work/train.masked" --steps $((steps + 2)) \
    --threads "$threads" --quiet -o "$work/run" --log "$work/log")
  [ "$kb" -gt "$ours_kb" ] && ours_kb=$kb
  # The median step after two warm-up steps, as torch_ref.py times it.
  ours=$(jq -s '[.[] | select(.step > 2 and .tokens_per_s != null) | .tokens_per_s] | sort | .[length / 2 | floor]' "$work/log")
  kb=$(OPENBLAS_CORETYPE=$kernels measure "$work/torch2" /usr/bin/python3 bench/torch_ftz.py "${torch_args[@]}")
  [ "$kb" -gt "$ftz_kb" ] && ftz_kb=$kb
  ftz=$(sed -n 's/^RESULT .*tokens_per_s=\([0-9.]*\).*/\1/p' "$work/torch2")
  best=$(awk -v a="$ftz" -v b="$tuned" 'BEGIN{print (a > b) ? a : b}')
  ratio=$(awk -v o="$ours" -v b="$best" 'BEGIN{printf "%.3f", o / b}')
  echo "round $round: pretrain $ours tokens/s, PyTorch (denormals flushed) $ftz tokens/s, ratio $ratio"
  ours_all+=" $ours" ftz_all+=" $ftz" ratios+=" $ratio"
done
ours=$(median <<< "$ours_all") ftz=$(median <<< "$ftz_all") ratio=$(median <<< "$ratios")
echo "torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), $threads threads, $steps timed steps each, $rounds rounds"
echo "data: $(jq -c '{records, masked, mean_len: .record_tokens.mean}' <<< "$stats") (PyTorch: every sequence 128 long, 19 masked)"
awk -v o="$ours" -v okb="$ours_kb" -v tt="$tuned" -v ttkb="$tuned_kb" -v tf="$ftz" -v tfkb="$ftz_kb" -v k="$kernels" \
    -v r="$ratio" 'BEGIN{
  bestkb = (tf > tt) ? tfkb : ttkb
  printf "BERT 4 layers, 4 heads, 256 wide, FFN 1024, seq 128, batch 32, vocab 30522 (medians over the rounds)\n"
  printf "  %-26s %8.1f tokens/s  %6d MiB peak\n", "pretrain --arch bert", o, okb / 1024
  printf "  %-26s %8.1f tokens/s  %6d MiB peak (one round)\n", "PyTorch, " k " kernels", tt, ttkb / 1024
  printf "  %-26s %8.1f tokens/s  %6d MiB peak\n", "  and denormals flushed", tf, tfkb / 1024
  printf "  ratio %.2fx against the faster PyTorch, median of the rounds (target 1.5x: %s), memory %.2fx\n", r, (r >= 1.5) ? "met" : "MISSED", okb / bestkb
}'
