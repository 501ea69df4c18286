#!/usr/bin/env bash
# Shard format throughput on one core: writing and reading docs and windows shards of the GPT-2 ids of
# the benchmark corpus (36 MB of text, 12 M ids), in memory, best of 5 runs. Target: >= 500 MB/s of
# token payload (ids x 2 bytes) each way. Run on an otherwise idle machine.
#   bench/shard_throughput.sh [CORPUS]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/bench/bench-corpus.txt}
ids=build/bench/$(basename "$corpus").gpt2.shard
[ -x build/bench/shard-bench ] || .ci/setup
[ -f "$ids" ] || build/cmd/tok-encode -v gpt2 "$corpus" -o "$ids"
pin=""
command -v taskset > /dev/null && pin="taskset -c 0"
status=0
for kind in windows docs; do
  out=$($pin build/bench/shard-bench "$ids" --kind "$kind" --repeat 5)
  echo "$out"
  for direction in write read; do
    rate=$(echo "$out" | sed -n "s/^RESULT $direction .*MB_per_s=\([0-9]*\).*/\1/p")
    verdict="meets"
    [ "$rate" -ge 500 ] || { verdict="MISSES"; status=1; }
    echo "$kind $direction: $rate MB/s ($verdict the 500 MB/s target, ratio $(awk "BEGIN{printf \"%.2f\", $rate/500}") of it)"
  done
done
exit $status
