#!/usr/bin/env bash
# shard-cat on real shards: every kind through make-test-shard and back, concatenation, pipes,
# vocabularies, and the error conventions (one line, FILE:OFFSET, exit 1; usage exit 2; no partial output).
source "$(dirname "$0")/lib.sh"

# --- every kind round-trips: JSON lines -> shard -> the same JSON lines ----------------------------------
cat > docs.jsonl <<'J'
{"ids":[1,2,3,4,5],"sentence_lens":[2,3]}
{"ids":[],"sentence_lens":[]}
{"ids":[9],"sentence_lens":[1],"doc_continues":true}
J
cat > pairs.jsonl <<'J'
{"ids":[101,7,8,102,9,102],"len_a":4,"is_next":1}
{"ids":[101,7,102,9,9,102],"len_a":3,"is_next":0}
{"ids":[101,102,102],"len_a":2,"is_next":null}
J
cat > windows.jsonl <<'J'
{"ids":[464,2068,7586,21831]}
{"ids":[18045,625,262,16931]}
J
cat > masked.jsonl <<'J'
{"ids":[101,103,8,102,103,102],"len_a":4,"is_next":1,"positions":[1,4],"labels":[7,9]}
J
cat > images.jsonl <<'J'
{"ids":[5,1,2],"loss_mask":[0,1,1],"image":[3,2]}
{"ids":[5],"loss_mask":[0],"image":[1,1]}
J
for kind in docs pairs windows masked images; do
  make-test-shard --kind "$kind" --vocab-size 50257 -o "$kind.shard" < "$kind.jsonl"
  shard-cat "$kind.shard" > "$kind.out"
  expect_eq "$(cat "$kind.out")" "$(cat "$kind.jsonl")" "$kind round trip"
  shard-cat --jsonl "$kind.shard" > "$kind.out2"
  cmp -s "$kind.out" "$kind.out2" || fail "--jsonl differs from the default output"
done

expect_eq "$(shard-cat --stats images.shard | jq -c '[.kind, .pixels, .loss_tokens]')" '["images",7,2]' \
  "an images shard's pixels and trained ids"

# u32 ids
echo '{"ids":[0,99999,100000]}' | make-test-shard --vocab-size 100001 > big.shard
expect_eq "$(shard-cat big.shard)" '{"ids":[0,99999,100000]}' "u32 ids"
expect_eq "$(shard-cat --header big.shard | jq -r .dtype)" "u32" "dtype for a vocabulary over 65536"

# --- stdin, pipes and concatenation ----------------------------------------------------------------------
expect_eq "$(cat windows.shard | shard-cat)" "$(cat windows.jsonl)" "stdin"
expect_eq "$(shard-cat - < windows.shard)" "$(cat windows.jsonl)" "- is stdin"
expect_eq "$(cat windows.shard windows.shard | shard-cat | wc -l)" "4" "concatenated shards"
expect_eq "$(shard-cat windows.shard windows.shard | wc -l)" "4" "two files"
expect_eq "$(cat windows.shard windows.shard | shard-cat --header | wc -l)" "2" "a header per shard"
expect_eq "$(shard-cat --header windows.shard | jq -r '.kind, .vocab_size, .provenance.program')" \
  "$(printf 'windows\n50257\nmake-test-shard')" "header fields"

# --- --stats ---------------------------------------------------------------------------------------------
shard-cat --stats pairs.shard > stats.json
expect_eq "$(jq -c '[.kind, .shards, .blocks, .records, .tokens, .is_next, .record_tokens.min, .record_tokens.max]' stats.json)" \
  '["pairs",1,1,3,15,{"1":1,"0":1,"none":1},3,6]' "stats"
expect_eq "$(jq -r .stored_bytes stats.json)" "$(stat -c %s pairs.shard)" "stored bytes"
seq 1 3000 | awk '{printf "{\"ids\":[%d,%d,%d]}\n", $1, $1+1, $1+2}' | make-test-shard --vocab-size 5000 --block-target 1000 > many.shard
expect_eq "$(shard-cat --stats many.shard | jq -c '[.records, .tokens, (.blocks > 10)]')" '[3000,9000,true]' "many blocks"

# --- vocabularies: tokens as text, and the fingerprint check ---------------------------------------------
shard-cat -v gpt2 windows.shard > text.jsonl
expect_eq "$(head -n 1 text.jsonl | jq -r .text)" "The quick brown fox" "text of ids"
expect_eq "$(head -n 1 text.jsonl | jq -c .tokens)" '["The","Ġquick","Ġbrown","Ġfox"]' "tokens"
expect_eq "$(shard-cat -v "$LMPIPE_SOURCE/share/vocab/gpt2" windows.shard | wc -l)" "2" "vocab by directory"
echo '{"ids":[1]}' | make-test-shard --vocab-size 50257 --fingerprint sha256:feed > other.shard
expect_status 1 shard-cat -v gpt2 other.shard
expect_contains err.txt "shard-cat: error: other.shard:0: the shard was made with vocabulary sha256:feed, not the one given (sha256:"
expect_error 1 "shard-cat: error: windows.shard:0: the shard's vocabulary has 50257 ids, the one given has 30522" \
  shard-cat -v bert-base-uncased windows.shard
expect_error 1 "shard-cat: error: vocabulary nope not found: give a directory, a vocab file, or a name under $LMPIPE_SOURCE/share/vocab" \
  shard-cat -v nope windows.shard

# --- bad input: one line, FILE:OFFSET, exit 1 -------------------------------------------------------------
printf 'hello\n' > text.txt
expect_error 1 "shard-cat: error: text.txt:0: not an lmpipe shard (wrong magic bytes)" shard-cat text.txt
: > empty.shard
expect_error 1 "shard-cat: error: empty.shard:0: empty input: expected an lmpipe shard" shard-cat empty.shard
size=$(stat -c %s many.shard)
head -c $((size - 10)) many.shard > cut.shard
expect_status 1 shard-cat cut.shard
expect_contains err.txt "shard-cat: error: cut.shard:"
expect_contains err.txt "truncated"
expect_eq "$(wc -l < err.txt)" "1" "one error line"
# A shard cut at a block boundary: a writer that died mid-stream.
expect_status 1 bash -c 'head -c 40 windows.shard | shard-cat'
expect_contains err.txt "shard-cat: error: <stdin>:"
expect_error 1 "shard-cat: error: cannot open missing.shard: No such file or directory" shard-cat missing.shard
cp many.shard flipped.shard
byte=$(xxd -s $((size / 2)) -l 1 -p many.shard)
printf "\\x$(printf %02x $((0x$byte ^ 0xff)))" | dd of=flipped.shard bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s many.shard flipped.shard && fail "the byte was not changed"
expect_status 1 shard-cat flipped.shard
expect_contains err.txt "shard-cat: error: flipped.shard:"
expect_status 1 shard-cat --stats flipped.shard
# Output under -o appears only when the whole run succeeded.
expect_status 1 shard-cat -o out.jsonl windows.shard cut.shard
[ ! -e out.jsonl ] || fail "a failed run left out.jsonl behind"
[ -z "$(ls -A | grep -F '.out.jsonl.tmp')" ] || fail "a failed run left a temporary file behind"
expect_status 0 shard-cat -o out.jsonl windows.shard
expect_eq "$(cat out.jsonl)" "$(cat windows.jsonl)" "-o"

# --- usage errors: exit 2 ----------------------------------------------------------------------------------
expect_status 2 shard-cat --header --stats windows.shard
expect_contains err.txt "shard-cat: error: --header excludes --stats"
expect_status 2 shard-cat --no-such-flag
expect_status 2 shard-cat --threads -1 windows.shard
expect_status 0 shard-cat --help
expect_contains out.txt "--stats"
expect_status 0 shard-cat --version
expect_eq "$(cat out.txt)" "shard-cat (lmpipe) $(grep -oP 'project\(lmpipe VERSION \K[0-9.]+' "$LMPIPE_SOURCE/CMakeLists.txt")" "--version"

# --- binary output is refused on a terminal; a killed writer leaves no file ---------------------------------
if script -qec true /dev/null > /dev/null 2>&1; then
  script -qec "make-test-shard --vocab-size 10 < /dev/null; echo status=\$?" /dev/null > tty.txt 2>&1 || true
  expect_contains tty.txt "refusing to write binary output to a terminal"
  expect_contains tty.txt "status=2"
fi
mkfifo slow.fifo
make-test-shard --vocab-size 10 -o killed.shard < slow.fifo &
writer=$!
exec 3> slow.fifo  # keep the fifo open so the writer waits for input
echo '{"ids":[1]}' >&3
sleep 0.3
kill -TERM "$writer"
wait "$writer" || true
exec 3>&-
[ ! -e killed.shard ] || fail "a killed writer left killed.shard"
[ -z "$(ls -A | grep -F 'killed.shard.tmp')" ] || fail "a killed writer left its temporary file"

done_testing
