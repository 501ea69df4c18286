#!/usr/bin/env bash
# mask-corpus speed on one core: end to end (read a pairs shard, mask every record, write the masked
# shard) on 128-token [CLS] A [SEP] B [SEP] records cut from the WordPiece ids of the benchmark corpus
# (36 MB of text, about 10.8 M ids), best of 5 runs. Target (issue 4): >= 20 M tokens/s, so masking
# never limits a pipeline. Run on an otherwise idle machine.
#   bench/mask_corpus.sh [CORPUS]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/bench/bench-corpus.txt}
if [ ! -x build/cmd/mask-corpus ] || [ ! -x build/tests/make-test-shard ]; then .ci/setup; fi
export PATH="$PWD/build/cmd:$PWD/build/tests:$PATH"
pairs=build/bench/$(basename "$corpus").bert.pairs128.shard
target=20

# Pairs of exactly 128 ids: the documents' ids back to back, cut every 125, split in half, wrapped in
# [CLS] [SEP] [SEP] (make-pairs --task nsp makes shorter records from this corpus's short paragraphs).
if [ ! -f "$pairs" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tok-encode -v bert-base-uncased --lines "$corpus" -o "$tmp/docs.shard"
  fingerprint=$(shard-cat --header "$tmp/docs.shard" | jq -r .vocab_fingerprint)
  special=$(shard-cat --header "$tmp/docs.shard" | jq -c .special_ids)
  shard-cat --jsonl "$tmp/docs.shard" | awk -v len=128 '
    { gsub(/^\{"ids":\[|\].*$/, ""); n = split($0, a, ",")
      for (i = 1; i <= n; i++) {
        buf[k++] = a[i]
        if (k == len - 3) {
          h = int(k / 2); s = "{\"ids\":[101"
          for (j = 0; j < h; j++) s = s "," buf[j]
          s = s ",102"
          for (j = h; j < k; j++) s = s "," buf[j]
          print s ",102],\"len_a\":" (h + 2) ",\"is_next\":" (r++ % 2) "}"
          k = 0
        }
      } }' |
    make-test-shard --kind pairs --vocab-size 30522 --fingerprint "$fingerprint" --special-ids "$special" -o "$pairs"
fi
tokens=$(shard-cat --stats "$pairs" | jq .tokens)
records=$(shard-cat --stats "$pairs" | jq .records)

pin=""
command -v taskset > /dev/null && pin="taskset -c 0"
best_seconds() {  # best wall time of 5 runs of a command, stdout discarded
  local best=""
  for _ in 1 2 3 4 5; do
    local start end t
    start=$(date +%s%N)
    "$@" > /dev/null
    end=$(date +%s%N)
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}
report() {  # NAME SECONDS TOKENS
  awk -v n="$1" -v s="$2" -v t="$3" -v target="$target" 'BEGIN {
    rate = t / s / 1e6; ratio = rate / target
    printf "%-40s %6.3f s  %6.1f M tokens/s  ratio %4.2fx of the %d M target (%s)\n", n, s, rate, ratio, target,
      (ratio >= 1) ? "met" : "MISSED" }'
}

echo "input: $pairs ($records records, $tokens tokens)"
status=0
one=$(best_seconds $pin build/cmd/mask-corpus --threads 1 --seed 1 "$pairs")
report "mask-corpus --threads 1" "$one" "$tokens"
awk -v s="$one" -v t="$tokens" -v target="$target" 'BEGIN { exit !(t / s / 1e6 >= target) }' || status=1
report "mask-corpus --threads 1 --whole-word" \
  "$(best_seconds $pin build/cmd/mask-corpus --threads 1 --seed 1 --whole-word -v bert-base-uncased "$pairs")" "$tokens"
report "mask-corpus --threads 2" "$(best_seconds build/cmd/mask-corpus --threads 2 --seed 1 "$pairs")" "$tokens"
# For scale: what reading and checking the shard alone costs.
awk -v s="$(best_seconds $pin build/cmd/shard-cat --stats "$pairs")" -v t="$tokens" \
  'BEGIN { printf "%-40s %6.3f s  %6.1f M tokens/s\n", "(shard-cat --stats: reading only)", s, t / s / 1e6 }'
exit $status
