#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the parts of the pipeline that exist so far.
# Today: a shard of GPT-2 token ids ("The quick brown fox jumps over the lazy dog." and friends), written
# through the shard library and inspected with shard-cat. Later stages join as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/setup
bin=build/cmd
out=${DEMO_OUT:-build/demo}
mkdir -p "$out"

echo "== a windows shard of GPT-2 ids (tok-encode and make-pairs will make these from text)"
cat > "$out/windows.jsonl" <<'J'
{"ids":[464,2068,7586,21831,18045,625,262,16931,3290,13]}
{"ids":[40,716,257,1310,11,290,314,716,994,13]}
J
build/tests/make-test-shard --kind windows --vocab-size 50257 -o "$out/windows.shard" < "$out/windows.jsonl"
echo "== shard-cat --stats"
"$bin/shard-cat" --stats "$out/windows.shard"
echo "== shard-cat --header"
"$bin/shard-cat" --header "$out/windows.shard"
echo "== shard-cat -v gpt2 (records with their text), twice over a concatenated stream"
cat "$out/windows.shard" "$out/windows.shard" | "$bin/shard-cat" -v gpt2
echo "demo done: files in $out"
