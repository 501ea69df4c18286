#!/usr/bin/env bash
# make-pairs in real pipelines: BERT pairs from WordPiece --docs shards, RoBERTa blocks, GPT windows that
# concatenate back to the encoded text, determinism, --dupe-factor over stdin, and bad input.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
# A docs corpus: wikitext paragraphs cut into sentences at ". ", documents at the " = = " headings.
sed -e 's/ \. / .\n/g' -e 's/^ = = .*$//' "$samples/wikitext2-valid.txt" "$samples/wikitext2-test.txt" > docs.txt

# --- BERT: [CLS] A [SEP] B [SEP] within --max-len, labels, and len_a ---------------------------------------
tok-encode -v bert-base-uncased --docs docs.txt -o docs.shard
make-pairs --task nsp --max-len 64 --seed 3 docs.shard > nsp.shard
shard-cat nsp.shard > nsp.jsonl
expect_eq "$(jq -s 'map(select((.ids | length) > 64 or .ids[0] != 101 or .ids[-1] != 102 or .ids[.len_a - 1] != 102
                      or .len_a < 3 or .len_a > (.ids | length) - 2 or (.is_next != 0 and .is_next != 1))) | length' nsp.jsonl)" \
  "0" "every pair has the [CLS] A [SEP] B [SEP] shape"
expect_eq "$(jq -s 'map(.ids[1:-1] | map(select(. == 101 or . == 102)) | length) | add' nsp.jsonl)" "$(wc -l < nsp.jsonl)" \
  "exactly one [SEP] inside each pair"
expect_eq "$(jq -s '(map(.is_next) | add) > 0 and (map(select(.is_next == 0)) | length) > 0' nsp.jsonl)" "true" "both labels occur"
expect_eq "$(shard-cat --header nsp.shard | jq -c '[.kind, .task, .max_len, .provenance.parents[0].program]')" \
  '["pairs","nsp",64,"tok-encode"]' "header and lineage"
# The same seed gives the same bytes, another seed other pairs; a second pass makes about twice as many.
make-pairs --task nsp --max-len 64 --seed 3 docs.shard > again.shard
cmp -s nsp.shard again.shard || fail "the same seed gave different bytes"
make-pairs --task nsp --max-len 64 --seed 4 docs.shard -o other.shard
cmp -s <(shard-cat nsp.shard) <(shard-cat other.shard) && fail "another seed gave the same pairs"
cat docs.shard | make-pairs --task nsp --max-len 64 --dupe-factor 2 -o twice.shard
records() { shard-cat --stats "$1" | jq .records; }
expect_eq "$(( $(records twice.shard) > 2 * $(records nsp.shard) * 9 / 10 ))" "1" "--dupe-factor 2 over stdin"
# The pipe, end to end.
tok-encode -v bert-base-uncased --docs docs.txt | make-pairs --task nsp --max-len 64 --seed 3 | shard-cat \
  | cmp -s - nsp.jsonl || fail "a pipe gave other pairs than files"

# --- RoBERTa blocks: <s> sentences </s> ..., within --max-len ----------------------------------------------
tok-train --model bpe --vocab-size 1000 --special-tokens '<s>,<pad>,</s>,<unk>,<mask>' -o roberta-vocab docs.txt
tok-encode -v roberta-vocab --docs docs.txt -o roberta-docs.shard
for task in full-sentences doc-sentences; do
  make-pairs --task "$task" --max-len 48 roberta-docs.shard | shard-cat > "$task.jsonl"
  # A block ends with a sentence's </s>, unless a sentence too long for one block fills it.
  expect_eq "$(jq -s 'map(select((.ids | length) > 48 or .ids[0] != 0 or .is_next != null
                                 or (.ids[-1] != 2 and (.ids | length) != 48))) | length' "$task.jsonl")" \
    "0" "$task blocks start with <s>, end with </s> or are full, fit"
done
expect_eq "$(( $(wc -l < doc-sentences.jsonl) > $(wc -l < full-sentences.jsonl) ))" "1" "doc-sentences cuts more blocks"
expect_error 1 "make-pairs: error: docs.shard: --task full-sentences needs <s> and </s> (or [CLS] and [SEP]) in the vocabulary's special tokens" \
  bash -c "tok-encode -v gpt2 --docs docs.txt -o docs.shard && make-pairs --task full-sentences --max-len 32 docs.shard > /dev/null"

# --- GPT windows concatenate back to the token stream ------------------------------------------------------
tok-encode -v gpt2 "$samples/tinyshakespeare.txt" "$samples/messy.txt" -o two.shard
make-pairs --task causal --max-len 32 two.shard -o windows.shard 2> summary.txt
expect_contains summary.txt "ids did not fill a window"
shard-cat windows.shard > windows.jsonl
expect_eq "$(jq -s 'map(.ids | length) | unique' windows.jsonl | jq -c .)" "[33]" "windows of max-len + 1"
joined=$(jq -s '[.[0].ids] + [.[1:][] | .ids[1:]] | flatten | length' windows.jsonl)
expect_eq "$(jq -s '.[0].ids[0:5]' windows.jsonl | jq -c .)" "$(shard-cat two.shard | head -n 1 | jq -c '.ids[0:5]')" "windows start at the stream's start"
expect_eq "$(jq -s '[.[] | .ids] | [.[0]] + [.[1:][] | .[1:]] | flatten | map(select(. == 50256)) | length' windows.jsonl)" "1" \
  "one <|endoftext|> between the two documents"
expect_eq "$(( joined <= $(shard-cat --stats two.shard | jq .tokens) + 1 ))" "1" "no ids invented"
make-pairs --task causal --max-len 32 --stride 16 --quiet two.shard | shard-cat > overlap.jsonl
expect_eq "$(jq -s '.[0].ids[16:] == .[1].ids[0:17]' overlap.jsonl)" "true" "--stride 16 overlaps windows"

# --- bad input and usage ------------------------------------------------------------------------------------
expect_error 1 "make-pairs: error: windows.shard:0: this program reads docs shards, not windows" \
  make-pairs --task causal --max-len 8 windows.shard
expect_error 1 "make-pairs: error: docs.shard: --task nsp needs [CLS] and [SEP] in the vocabulary's special tokens" \
  make-pairs --task nsp --max-len 64 docs.shard
expect_status 2 make-pairs --task causal --max-len 8 --stride 20 two.shard
expect_status 2 make-pairs --max-len 8 two.shard
expect_status 2 make-pairs --task nsp --max-len 4 two.shard
expect_status 1 make-pairs --task causal --max-len 8 missing.shard -o never.shard
[ ! -e never.shard ] || fail "a failed run left its output"

# -o naming an input (under any name) would replace what is being read: refused, the input untouched.
cp docs.shard same.shard && ln -f same.shard hardlink.shard
expect_status 2 make-pairs --task nsp --max-len 64 same.shard -o same.shard
expect_contains err.txt "-o same.shard is the input same.shard: the output would replace it"
expect_status 2 make-pairs --task nsp --max-len 64 same.shard -o hardlink.shard
expect_status 2 mask-corpus --quiet other.shard -o other.shard
expect_status 2 shard-cat --stats same.shard -o same.shard
cmp -s docs.shard same.shard || fail "a refused -o changed its input"
cp docs.txt same.txt
expect_status 2 tok-encode -v bert-base-uncased same.txt -o same.txt
cmp -s docs.txt same.txt || fail "tok-encode -o over its input changed it"

expect_status 2 make-pairs --task causal --max-len 99999999999 docs.shard
expect_contains err.txt "99999999999 must be at least 1 and at most 16777215"
expect_status 2 make-pairs --task nsp --max-len 64 --short-seq-prob 1.5 docs.shard
expect_contains err.txt "1.5 must be at least 0 and at most 1"

done_testing
