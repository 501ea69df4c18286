#!/usr/bin/env bash
# Writes a seed corpus for fuzz-shard-reader: valid shards of every kind and dtype (alone and
# concatenated), each behind every mode byte the target understands.
#   make-seeds.sh MAKE_TEST_SHARD DIR
set -euo pipefail
make_shard=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '{"ids":[1,2,3,4,5],"sentence_lens":[2,3]}\n{"ids":[9],"sentence_lens":[1],"doc_continues":true}\n{"ids":[]}\n' |
  "$make_shard" --kind docs --vocab-size 300 --block-target 30 > "$tmp/docs"
printf '{"ids":[101,7,8,102,9,102],"len_a":4,"is_next":1}\n{"ids":[1,2,3],"len_a":1,"is_next":null}\n' |
  "$make_shard" --kind pairs --vocab-size 300 > "$tmp/pairs"
printf '{"ids":[4,5,6,7]}\n{"ids":[8,9,10,11]}\n{"ids":[69999,0,1,2]}\n' |
  "$make_shard" --kind windows --vocab-size 70000 --block-target 20 > "$tmp/windows32"
printf '{"ids":[101,103,8,102,103,102],"len_a":4,"is_next":0,"positions":[1,4],"labels":[7,9]}\n' |
  "$make_shard" --kind masked --vocab-size 300 > "$tmp/masked"
printf '{"ids":[5,1,2],"loss_mask":[0,1,1],"image":[3,2]}\n{"ids":[5],"loss_mask":[0],"image":[1,1]}\n' |
  "$make_shard" --kind images --vocab-size 300 > "$tmp/images"
cat "$tmp/pairs" "$tmp/pairs" > "$tmp/concatenated"
for f in "$tmp"/*; do
  for mode in 0 1 2 3; do
    { printf "\\x0$mode"; cat "$f"; } > "$dir/$(basename "$f")-$mode"
  done
done
