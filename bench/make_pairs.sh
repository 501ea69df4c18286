#!/usr/bin/env bash
# make-pairs throughput on one core: BERT pairs, RoBERTa blocks and GPT windows from the benchmark
# corpus (36 MB of text; WordPiece --docs for the first two, GPT-2 for the windows). Target (issue 4):
# >= 20 M input tokens/s each, so make-pairs never limits a pipeline. Best of 3 runs.
#   bench/make_pairs.sh [CORPUS]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/bench/bench-corpus.txt}
bin=${BUILD:-build}/cmd  # BUILD: another build directory
[ -x "$bin/make-pairs" ] || .ci/setup
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/lib.sh
$bin/tok-encode -v bert-base-uncased --docs "$corpus" -o "$work/bert.docs"
$bin/tok-encode -v gpt2 "$corpus" -o "$work/gpt2.docs"

run() {  # NAME INPUT ARGS...
  local name=$1 input=$2
  shift 2
  local tokens seconds
  tokens=$($bin/shard-cat --stats "$input" | sed -n 's/.*"tokens":\([0-9]*\).*/\1/p')
  seconds=$(best taskset -c 0 $bin/make-pairs "$@" "$input" -o "$work/out.shard")
  awk -v n="$name" -v t="$tokens" -v s="$seconds" 'BEGIN{r = t / s / 1e6;
    printf "%-44s %6.1f M tokens/s (%d tokens, %.2f s)  ratio %.2fx of 20 M/s: %s\n", n, r, t, s, r / 20, (r >= 20) ? "met" : "MISSED"}'
}
run "make-pairs --task nsp --max-len 128" "$work/bert.docs" --task nsp --max-len 128
run "make-pairs --task full-sentences --max-len 512" "$work/bert.docs" --task full-sentences --max-len 512
run "make-pairs --task causal --max-len 1024" "$work/gpt2.docs" --task causal --max-len 1024
