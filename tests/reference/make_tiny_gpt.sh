#!/usr/bin/env bash
# Makes tests/data/gen/tiny-gpt, the small byte-level GPT (gpt-nano: 2 layers, 32 wide, context 32, 257
# tokens; 38k parameters, 150 KB) that tests/cli/sample_test.sh generates from, and the golden greedy text
# beside it. Run from the source tree with a build in build/:
#   tests/reference/make_tiny_gpt.sh
# Rerun only on purpose: the golden file then changes too, and `git diff` shows how.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/cmd
out=tests/data/gen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=PASSIVE
text=tests/data/tok/tinyshakespeare.txt
"$bin/tok-train" --model bpe --vocab-size 257 --quiet -o "$work/bytes" "$text"
"$bin/tok-encode" -v "$work/bytes" --quiet "$text" | "$bin/make-pairs" --task causal --max-len 32 --quiet -o "$work/train.shard"
"$bin/pretrain" --preset gpt-nano --data "$work/train.shard" --batch-size 16 --steps 2500 --lr 3e-3 --min-lr 3e-4 --warmup 50 \
  --threads 2 --seed 1 -v "$work/bytes" --quiet -o "$work/run"
rm -rf "$out/tiny-gpt"
mkdir -p "$out/tiny-gpt"
for f in config.json model.safetensors vocab.json merges.txt; do cp "$work/run/latest/$f" "$out/tiny-gpt/"; done
"$bin/sample" "$out/tiny-gpt" --prompt 'ROMEO:' --greedy --max-new-tokens 60 --threads 2 > "$out/greedy-romeo.txt"
echo "wrote $out/tiny-gpt and $out/greedy-romeo.txt:"
cat "$out/greedy-romeo.txt"
