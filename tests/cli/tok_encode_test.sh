#!/usr/bin/env bash
# tok-encode: ids equal the reference tokenizers' on the data samples, every byte string round-trips,
# the document layouts, parallel output identical to serial, and bad input.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"

# --- parity with tiktoken/HuggingFace (GPT-2) and HuggingFace BertWordPieceTokenizer (bert-base-uncased) ---
for sample in "$samples"/*.txt; do
  name=$(basename "$sample" .txt)
  tok-encode -v gpt2 --format ids "$sample" > "$name.gpt2"
  mismatches=$(paste -d '\t' "$name.gpt2" "$samples/$name.gpt2.ids" | awk -F '\t' '$2 != "-" && $1 != $2' | wc -l)
  expect_eq "$mismatches" 0 "GPT-2 ids of $name"
  expect_eq "$(wc -l < "$name.gpt2")" "$(wc -l < "$samples/$name.gpt2.ids")" "lines of $name"
  tok-encode -v bert-base-uncased --format ids "$sample" > "$name.bert"
  cmp -s "$name.bert" "$samples/$name.bert-base-uncased.ids" || fail "bert-base-uncased ids of $name differ: $(diff "$name.bert" "$samples/$name.bert-base-uncased.ids" | head -n 4)"
done

# --- any bytes round-trip through a shard; thread counts give the same records -----------------------------
head -c 300000 "$LMPIPE_BIN/tok-encode" > binary.bin  # arbitrary bytes: NULs, invalid UTF-8
cat "$samples"/messy.txt binary.bin "$samples"/bench-corpus.txt > mixed.bin
for input in "$samples/messy.txt" binary.bin mixed.bin; do
  tok-encode -v gpt2 "$input" | tok-encode -v gpt2 --decode > back.bin
  cmp -s "$input" back.bin || fail "$input did not round-trip"
  TESTS_RUN=$((TESTS_RUN + 1))
done
tok-encode -v gpt2 --threads 1 mixed.bin > one.shard
tok-encode -v gpt2 --threads 2 mixed.bin > two.shard
cmp -s one.shard two.shard || fail "--threads 2 gave different bytes"
documents() { shard-cat "$@" | jq -s 'map(select(.doc_continues != true)) | length'; }
expect_eq "$(documents one.shard)" "1" "a file is one document"
# A document longer than a record holds is cut into pieces that reassemble.
for i in $(seq 1 3); do cat "$LMPIPE_SOURCE/../shared/data/tinyshakespeare/input.txt" 2>/dev/null || cat "$samples"/*.txt; done > long.txt
tok-encode -v gpt2 long.txt --threads 2 | tok-encode -v gpt2 --decode | cmp -s - long.txt || fail "long document did not round-trip"
# Several files: a document each, decoded back to back.
tok-encode -v gpt2 "$samples/messy.txt" "$samples/tinyshakespeare.txt" -o two-docs.shard
expect_eq "$(documents two-docs.shard)" "2" "two files, two documents"
cmp -s <(tok-encode -v gpt2 --decode two-docs.shard) <(cat "$samples/messy.txt" "$samples/tinyshakespeare.txt") || fail "two files"
# stdin, and the shard through a pipe.
expect_eq "$(printf 'Hello world' | tok-encode -v gpt2 | shard-cat | jq -c .ids)" "[15496,995]" "stdin"
# A 3 MB line without a newline.
head -c 3000000 /dev/zero | tr '\0' 'a' | sed 's/aaaa/ab c/g' > oneline.txt
tok-encode -v gpt2 oneline.txt | tok-encode -v gpt2 --decode | cmp -s - oneline.txt || fail "a long line"
tok-encode -v gpt2 --lines oneline.txt | shard-cat --stats > oneline.json
expect_eq "$(jq .tokens oneline.json)" "$(tok-encode -v gpt2 --format ids oneline.txt | wc -w)" "a long line as one document"

# --- layouts ---------------------------------------------------------------------------------------------
printf 'First sentence.\r\nSecond one.\n\n  \nNext doc, only sentence.\n\n\nThird.' > docs.txt
tok-encode -v gpt2 --docs docs.txt -o docs.shard
expect_eq "$(shard-cat --header docs.shard | jq -r .layout)" "docs" "layout in the header"
expect_eq "$(shard-cat docs.shard | jq -c '.sentence_lens | length')" "$(printf '2\n1\n1')" "sentences per document"
expect_eq "$(tok-encode -v gpt2 --decode docs.shard)" "$(printf 'First sentence.\nSecond one.\n\nNext doc, only sentence.\n\nThird.\n')" "docs decoded"
printf 'a b\r\n\nc\n' | tok-encode -v gpt2 --lines -o lines.shard
expect_eq "$(shard-cat -v gpt2 lines.shard | jq -r .text)" "$(printf 'a b\nc')" "--lines: a document a line, CR dropped, empty lines skipped"
printf '{"text":"one","id":1}\n\n{"id":2,"text":"two"}\n' > docs.jsonl
expect_eq "$(tok-encode -v gpt2 --jsonl text docs.jsonl | shard-cat -v gpt2 | jq -r .text)" "$(printf 'one\ntwo')" "--jsonl"
printf '{"text":"x"}\n[1,2\n' > bad.jsonl
expect_error 1 "tok-encode: error: bad.jsonl:13: not a JSON object" bash -c "tok-encode -v gpt2 --jsonl text bad.jsonl > /dev/null"
expect_error 1 "tok-encode: error: docs.jsonl:0: no string field \"body\"" bash -c "tok-encode -v gpt2 --jsonl body docs.jsonl > /dev/null"

# --- special tokens, WordPiece options ----------------------------------------------------------------------
expect_eq "$(echo 'Hello, World!' | tok-encode -v bert-base-uncased --format ids --add-special)" "101 7592 1010 2088 999 102" "[CLS] .. [SEP]"
expect_eq "$(echo 'Hello' | tok-encode -v gpt2 --format ids --add-special)" "15496 50256" "GPT-2 ends with <|endoftext|>"
# A special token's string in a document is text unless --special-in-text says otherwise.
expect_eq "$(echo 'a [SEP] b' | tok-encode -v bert-base-uncased --format ids)" "1037 1031 19802 1033 1038" "[SEP] in text is text"
expect_eq "$(echo 'a [SEP] b' | tok-encode -v bert-base-uncased --format ids --special-in-text)" "1037 102 1038" "--special-in-text: [SEP]"
expect_eq "$(echo 'a<|endoftext|>' | tok-encode -v gpt2 --format ids)" "64 27 91 437 1659 5239 91 29" "<|endoftext|> in text is text"
expect_eq "$(echo 'a<|endoftext|>' | tok-encode -v gpt2 --format ids --special-in-text)" "64 50256" "--special-in-text: <|endoftext|>"
printf 'First [SEP] sentence.\nSecond [CLS] one.\n\nThird.\nFourth.\n' > specials.txt
expect_eq "$(tok-encode -v bert-base-uncased --docs specials.txt | make-pairs --task nsp --max-len 32 --seed 1 -q | shard-cat \
  | jq -c '[.ids[] | select(. == 101 or . == 102)] | length' | sort -u)" "3" "NSP records from text holding [SEP] have one [CLS] and two [SEP]"
expect_eq "$(echo 'HELLO' | tok-encode -v bert-base-uncased --format ids --cased)" "100" "--cased keeps upper case ([UNK] in an uncased vocabulary)"
expect_eq "$(tok-encode -v gpt2 --format ids --decode <<< '15496 995')" "Hello world" "--decode --format ids"
expect_error 1 "tok-encode: error: <stdin>:6: not a token id below 50257" bash -c "echo '15496 99999' | tok-encode -v gpt2 --format ids --decode"

# --- bad input and usage ------------------------------------------------------------------------------------
: > empty.txt
expect_eq "$(tok-encode -v gpt2 empty.txt | shard-cat --stats | jq .records)" "0" "an empty file is no document"
mkdir -p badvocab
head -c 1000 "$LMPIPE_SOURCE/share/vocab/gpt2/vocab.json" > badvocab/vocab.json
cp "$LMPIPE_SOURCE/share/vocab/gpt2/merges.txt" badvocab/
expect_error 1 "tok-encode: error: badvocab/vocab.json: not a JSON object of token -> id (truncated or not JSON?)" tok-encode -v badvocab empty.txt
expect_status 1 tok-encode -v bert-base-uncased --decode one.shard
expect_contains err.txt "the shard was made with vocabulary sha256:"
expect_status 2 tok-encode -v gpt2 --format ids --docs empty.txt
expect_status 2 tok-encode -v gpt2 --docs --lines empty.txt
expect_status 2 tok-encode empty.txt
expect_error 1 "tok-encode: error: cannot open missing.txt: No such file or directory" tok-encode -v gpt2 missing.txt -o never.shard
[ ! -e never.shard ] || fail "a failed run left its output"

done_testing
