#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the pipeline as far as it exists today:
# train a byte-level BPE tokenizer on the shipped corpus (Tiny Shakespeare), encode the corpus into a
# token shard, look inside it, decode it back, build GPT windows and masked BERT pairs from it, and
# pretrain a small GPT on it for a minute or two, and sample from the model it trained.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/setup
bin=build/cmd
out=${DEMO_OUT:-build/demo}
corpus=share/corpus/tinyshakespeare.txt
mkdir -p "$out"

echo "== tok-train: a 4,000-token byte-level BPE vocabulary from $corpus"
time "$bin/tok-train" --model bpe --vocab-size 4000 -o "$out/vocab" "$corpus"
echo "   first merges: $(sed -n '2,7p' "$out/vocab/merges.txt" | tr '\n' '|')"

echo "== tok-encode: the corpus as a docs shard, with our vocabulary and with GPT-2's"
time "$bin/tok-encode" -v "$out/vocab" "$corpus" -o "$out/corpus.shard"
"$bin/tok-encode" -v gpt2 "$corpus" -o "$out/corpus.gpt2.shard"
echo "   ours:  $("$bin/shard-cat" --stats "$out/corpus.shard")"
echo "   gpt2:  $("$bin/shard-cat" --stats "$out/corpus.gpt2.shard")"

echo "== the first lines, one document each (--lines), shown as tokens by shard-cat -v"
head -n 4 "$corpus" | "$bin/tok-encode" -v "$out/vocab" --lines | "$bin/shard-cat" -v "$out/vocab" | cut -c1-200

echo "== tok-encode --decode gives back the corpus byte for byte"
"$bin/tok-encode" -v "$out/vocab" --decode "$out/corpus.shard" | cmp - "$corpus" && echo "   identical"

echo "== make-pairs: GPT training windows of 256 (+1) ids, and BERT sentence pairs with masks"
"$bin/make-pairs" --task causal --max-len 256 "$out/corpus.shard" -o "$out/windows.shard"
echo "   windows: $("$bin/shard-cat" --stats "$out/windows.shard")"
# With --docs each line is a sentence and each speech (lines up to a blank one) a document.
"$bin/tok-encode" -v bert-base-uncased --docs "$corpus" | "$bin/make-pairs" --task nsp --max-len 128 \
  | "$bin/mask-corpus" -o "$out/bert.shard"
echo "   bert:    $("$bin/shard-cat" --stats "$out/bert.shard")"
"$bin/shard-cat" -v bert-base-uncased "$out/bert.shard" | sed -n '1p' | cut -c1-300

echo "== pretrain: a small GPT (4 layers, 4 heads, 128 wide, 128 positions) on the first 90% of the corpus,"
echo "   validated on the last 10%, 600 steps of 16 windows on 2 threads"
lines=$(wc -l < "$corpus")
head -n $((lines * 9 / 10)) "$corpus" | "$bin/tok-encode" -v "$out/vocab" | "$bin/make-pairs" --task causal --max-len 128 --quiet -o "$out/train.shard"
tail -n +$((lines * 9 / 10 + 1)) "$corpus" | "$bin/tok-encode" -v "$out/vocab" | "$bin/make-pairs" --task causal --max-len 128 --quiet -o "$out/val.shard"
rm -rf "$out/gpt"
time "$bin/pretrain" --preset gpt-baby --max-len 128 --data "$out/train.shard" --val "$out/val.shard" --steps 600 --batch-size 16 \
  --lr 1e-3 --min-lr 1e-4 --warmup 50 --beta2 0.99 --dropout 0.1 --eval-every 100 --threads 2 -v "$out/vocab" -o "$out/gpt"
echo "   validation loss by step: $(jq -r 'select(.val_loss) | "\(.step): \(.val_loss * 1000 | round / 1000)"' "$out/gpt/metrics.jsonl" | paste -sd' ')"

echo "== sample: the model continues a speaker's name (nucleus sampling, p 0.9, temperature 0.8), two samples"
time "$bin/sample" "$out/gpt" --prompt $'ROMEO:\n' --echo --max-new-tokens 120 --top-p 0.9 --temperature 0.8 --num-samples 2 \
  --seed 1 --threads 2

echo "demo done: vocabulary in $out/vocab, shards in $out, the model in $out/gpt/latest (transformers loads it"
echo "with GPT2LMHeadModel.from_pretrained), its metrics in $out/gpt/metrics.jsonl, the loss plot in"
echo "$out/gpt/loss.svg (open it in a browser); more samples with"
echo "   $bin/sample $out/gpt --prompt 'JULIET:' --top-p 0.9"
