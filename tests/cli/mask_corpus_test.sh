#!/usr/bin/env bash
# mask-corpus on real shards: the masked fields, the 80% [MASK] share, fields carried over, identical bytes
# on any thread count and for a seed, whole words with a vocabulary, and the error conventions.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
BERT_SPECIAL='{"cls":101,"mask":103,"pad":0,"sep":102,"unk":100}'

# --- a toy pairs shard: [CLS] A [SEP] B [SEP] with random ids, several blocks ------------------------------
awk 'BEGIN {
  srand(1)
  for (r = 0; r < 20000; r++) {
    la = 1 + int(rand() * 40); lb = 1 + int(rand() * 60)
    s = "{\"ids\":[101"
    for (i = 0; i < la; i++) s = s "," (1000 + int(rand() * 29000))
    s = s ",102"
    for (i = 0; i < lb; i++) s = s "," (1000 + int(rand() * 29000))
    label = (r % 3 == 2) ? "null" : (r % 3)
    print s ",102],\"len_a\":" (la + 2) ",\"is_next\":" label "}"
  }
}' > toy.jsonl
make-test-shard --kind pairs --vocab-size 30522 --special-ids "$BERT_SPECIAL" --block-target 200000 -o toy.shard < toy.jsonl
expect_eq "$(shard-cat --stats toy.shard | jq '.blocks > 3')" "true" "the toy shard has several blocks"

mask-corpus --seed 7 -o masked.shard toy.shard
shard-cat --jsonl masked.shard > masked.jsonl
expect_eq "$(wc -l < masked.jsonl)" "20000" "one masked record per pair"
expect_eq "$(jq -s 'map(select((.positions | length) >= 1 and (.positions | length) == (.labels | length))) | length' masked.jsonl)" \
  "20000" "every record has positions and labels"
# Unmasking (labels back at the positions) gives the input ids; len_a and is_next are carried over.
jq -c '. as $r | {ids: (reduce range(0; $r.positions | length) as $k ($r.ids; .[$r.positions[$k]] = $r.labels[$k])),
                  len_a, is_next}' masked.jsonl > unmasked.jsonl
cmp -s unmasked.jsonl toy.jsonl || fail "labels at the positions do not give back the input: $(diff unmasked.jsonl toy.jsonl | head -n 4)"
TESTS_RUN=$((TESTS_RUN + 1))
# The count is Google's rule: min(20, max(1, round-half-even(len * 0.15))); the positions are never [CLS]/[SEP].
jq -r '[(.ids | length), (.positions | length)] | @tsv' masked.jsonl |
  awk '{ x = $1 * 0.15; n = int(x); f = x - n; if (f > 0.5 || (f == 0.5 && n % 2 == 1)) n++; if (n < 1) n = 1; if (n > 20) n = 20
         if ($2 != n) { print "length " $1 ": " $2 " positions, expected " n; exit 1 } }' > count.txt ||
  fail "$(cat count.txt)"
TESTS_RUN=$((TESTS_RUN + 1))
expect_eq "$(jq -s '[.[] | .labels[] | select(. == 101 or . == 102)] | length' masked.jsonl)" "0" "no [CLS]/[SEP] masked"
share=$(jq -s '[.[] | . as $r | $r.positions[] | $r.ids[.]] | (map(select(. == 103)) | length) / length' masked.jsonl)
expect_eq "$(awk -v s="$share" 'BEGIN { print (s > 0.78 && s < 0.82) }')" "1" "[MASK] share $share is about 0.8"

header=$(shard-cat --header masked.shard)
expect_eq "$(jq -c '[.kind, .vocab_size, .dtype, .special_ids == '"$BERT_SPECIAL"']' <<< "$header")" \
  '["masked",30522,"u16",true]' "masked header"
expect_eq "$(jq -c .masking <<< "$header")" \
  '{"count":"google","mask_prob":0.15,"max_predictions":20,"random_pool":"all","split":[0.8,0.1,0.1],"whole_word":false}' \
  "masking settings in the header"
expect_eq "$(jq -c '.provenance | [.program, .seed, .args, [.parents[].program]]' <<< "$header")" \
  '["mask-corpus",7,["--seed","7","-o","masked.shard","toy.shard"],["make-test-shard"]]' "provenance"

# --- determinism: thread counts, seeds, stdin, several inputs -----------------------------------------------
mask-corpus --seed 7 --threads 1 toy.shard > t1.shard
mask-corpus --seed 7 --threads 2 toy.shard > t2.shard
mask-corpus --seed 7 --threads 3 toy.shard > t3.shard
cmp -s t1.shard t2.shard || fail "--threads 2 wrote different bytes from --threads 1"
cmp -s t1.shard t3.shard || fail "--threads 3 wrote different bytes from --threads 1"
TESTS_RUN=$((TESTS_RUN + 2))
mask-corpus --seed 7 --threads 1 toy.shard > again.shard
cmp -s t1.shard again.shard || fail "the same seed wrote different bytes"
mask-corpus --seed 8 --threads 1 toy.shard > other.shard
cmp -s t1.shard other.shard && fail "another seed wrote the same bytes"
TESTS_RUN=$((TESTS_RUN + 2))
expect_eq "$(mask-corpus --seed 7 < toy.shard | shard-cat | md5sum)" "$(md5sum < masked.jsonl)" "stdin"
head -n 5000 toy.jsonl | make-test-shard --kind pairs --vocab-size 30522 --special-ids "$BERT_SPECIAL" -o part1.shard
tail -n +5001 toy.jsonl | make-test-shard --kind pairs --vocab-size 30522 --special-ids "$BERT_SPECIAL" -o part2.shard
mask-corpus --seed 7 part1.shard part2.shard -o parts.shard
expect_eq "$(shard-cat parts.shard | md5sum)" "$(md5sum < masked.jsonl)" "two inputs read as one stream"
expect_eq "$(cat part1.shard part2.shard | mask-corpus --seed 7 | shard-cat | md5sum)" "$(md5sum < masked.jsonl)" \
  "concatenated shards"
expect_eq "$(shard-cat --header parts.shard | jq '.provenance.parents | length')" "2" "a parent per input"

# --- options: no cap, the random pool ---------------------------------------------------------------------
mask-corpus --mask-prob 0.5 --max-predictions 0 --random-pool non-special toy.shard | shard-cat > wide.jsonl
expect_eq "$(jq -s 'map(.positions | length) | max > 20' wide.jsonl)" "true" "--max-predictions 0: no cap"
expect_eq "$(jq -s '[.[] | . as $r | range(0; $r.positions | length) | $r.ids[$r.positions[.]] as $now
                   | select($now != 103 and $now != $r.labels[.])] | length > 1000' wide.jsonl)" "true" "random replacements"
expect_eq "$(jq -s '[.[] | . as $r | $r.positions[] | $r.ids[.] | select(. == 0 or . == 101 or . == 102)] | length' wide.jsonl)" \
  "0" "--random-pool non-special draws no special id"
expect_eq "$(mask-corpus --random-pool non-special toy.shard | shard-cat --header | jq -r .masking.random_pool)" \
  "non-special" "random pool in the header"
# A record too short for 15%: still one position; an empty pairs shard: an empty masked shard.
echo '{"ids":[101,2000,102,102],"len_a":3,"is_next":1}' |
  make-test-shard --kind pairs --vocab-size 30522 --special-ids "$BERT_SPECIAL" > tiny.shard
expect_eq "$(mask-corpus tiny.shard | shard-cat | jq -c '[.positions, .labels, .len_a, .is_next]')" '[[1],[2000],3,1]' "tiny record"
: > nothing.jsonl
make-test-shard --kind pairs --vocab-size 30522 --special-ids "$BERT_SPECIAL" < nothing.jsonl > empty.shard
expect_eq "$(mask-corpus empty.shard | shard-cat --stats | jq -c '[.kind, .records]')" '["masked",0]' "empty input"

# --- real text: tok-encode, pairs by splitting each line, whole words -------------------------------------
tok-encode -v bert-base-uncased --lines "$samples/wikitext2-test.txt" "$samples/tinyshakespeare.txt" -o docs.shard
fingerprint=$(shard-cat --header docs.shard | jq -r .vocab_fingerprint)
special=$(shard-cat --header docs.shard | jq -c .special_ids)
shard-cat docs.shard |
  jq -c 'select((.ids | length) >= 2) | .ids[:125] as $t | ($t | length / 2 | floor) as $h
         | {ids: ([101] + $t[:$h] + [102] + $t[$h:] + [102]), len_a: ($h + 2), is_next: 1}' |
  make-test-shard --kind pairs --vocab-size 30522 --fingerprint "$fingerprint" --special-ids "$special" -o real.shard
mask-corpus --seed 1 real.shard | shard-cat -v bert-base-uncased > real.jsonl
expect_eq "$(jq -s 'map(select((.positions | length) >= 1)) | length' real.jsonl)" "$(shard-cat --stats real.shard | jq .records)" \
  "real records are masked"
mask-corpus --seed 1 --whole-word -v bert-base-uncased real.shard -o wwm.shard
expect_eq "$(shard-cat --header wwm.shard | jq .masking.whole_word)" "true" "whole_word in the header"
shard-cat -v bert-base-uncased real.shard | jq -c .tokens > real_tokens.jsonl
shard-cat wwm.shard | jq -c .positions > wwm_positions.jsonl
# Whole words: a chosen position's ## neighbours are chosen too, but never across [CLS]/[SEP].
broken=$(paste -d '\t' real_tokens.jsonl wwm_positions.jsonl | jq -R -s '
  [split("\n")[] | select(length > 0) | split("\t") | (.[0] | fromjson) as $t | (.[1] | fromjson) as $p
   | $p[] as $x
   | select(($t[$x] | startswith("##")) and ($t[$x - 1] | test("^\\[(CLS|SEP)\\]$") | not) and (($p | index([$x - 1])) == null)
            or ($x + 1 < ($t | length) and ($t[$x + 1] | startswith("##")) and (($p | index([$x + 1])) == null)))] | length')
expect_eq "$broken" "0" "whole words are all or nothing"
words=$(paste -d '\t' real_tokens.jsonl wwm_positions.jsonl | jq -R -s '
  [split("\n")[] | select(length > 0) | split("\t") | (.[0] | fromjson) as $t | (.[1] | fromjson)[] | select($t[.] | startswith("##"))] | length')
expect_eq "$(awk -v w="$words" 'BEGIN { print (w > 50) }')" "1" "whole-word masking picked multi-piece words ($words pieces)"
cmp -s <(mask-corpus --seed 1 --whole-word -v bert-base-uncased --threads 1 real.shard) \
  <(mask-corpus --seed 1 --whole-word -v bert-base-uncased --threads 2 real.shard) || fail "--whole-word differs by threads"
TESTS_RUN=$((TESTS_RUN + 1))

# --- errors: one line, FILE:OFFSET, exit 1; usage exit 2; nothing half-written ----------------------------
printf '{"ids":[1,2,3],"sentence_lens":[3]}\n' | make-test-shard --kind docs --vocab-size 30522 -o docs_only.shard
expect_error 1 "mask-corpus: error: docs_only.shard:0: this program reads pairs shards, not docs" mask-corpus docs_only.shard
echo '{"ids":[101,2000,102,102],"len_a":3,"is_next":1}' | make-test-shard --kind pairs --vocab-size 30522 > nomask.shard
expect_error 1 "mask-corpus: error: nomask.shard:0: the shard's vocabulary has no mask token ([MASK] or <mask>) among its special ids, so it cannot be masked" \
  mask-corpus nomask.shard
tok-encode -v gpt2 --lines "$samples/messy.txt" | shard-cat | head -n 3 |
  jq -c '{ids: ([50256] + .ids + [50256]), len_a: 1, is_next: null}' |
  make-test-shard --kind pairs --vocab-size 50257 --special-ids '{"eot":50256}' > gpt2.shard
expect_status 1 mask-corpus gpt2.shard
expect_contains err.txt "mask-corpus: error: gpt2.shard:0: the shard's vocabulary has no mask token"
expect_error 2 "mask-corpus: error: --whole-word needs the vocabulary (-v VOCAB) to tell which tokens continue a word" \
  mask-corpus --whole-word real.shard
expect_status 1 mask-corpus -v gpt2 real.shard
expect_contains err.txt "mask-corpus: error: real.shard:0: the shard was made with vocabulary $fingerprint, not the one given"
expect_status 1 mask-corpus --whole-word -v gpt2 real.shard
expect_eq "$(wc -l < err.txt)" "1" "one error line"
expect_error 1 "mask-corpus: error: cannot open missing.shard: No such file or directory" mask-corpus missing.shard
size=$(stat -c %s toy.shard)
head -c $((size / 2)) toy.shard > cut.shard
expect_status 1 mask-corpus -o cut_out.shard cut.shard
expect_contains err.txt "mask-corpus: error: cut.shard:"
expect_contains err.txt "truncated"
[ ! -e cut_out.shard ] || fail "a failed run left cut_out.shard behind"
[ -z "$(ls -A | grep -F 'cut_out.shard.tmp')" ] || fail "a failed run left a temporary file behind"
expect_status 1 mask-corpus -o mixed_out.shard toy.shard docs_only.shard
expect_contains err.txt "mask-corpus: error: docs_only.shard:0: this program reads pairs shards, not docs"
[ ! -e mixed_out.shard ] || fail "a failed run left mixed_out.shard behind"
for bad in "--mask-prob 1.5" "--mask-prob -0.1" "--mask-prob x" "--max-predictions -1" "--random-pool some" \
  "--threads -1" "--no-such-flag"; do
  # shellcheck disable=SC2086
  expect_status 2 mask-corpus $bad toy.shard
  expect_contains err.txt "Run 'mask-corpus --help' for the options."
done
expect_status 0 mask-corpus --help
expect_contains out.txt "--random-pool"
expect_status 0 mask-corpus --version
expect_eq "$(cat out.txt)" "mask-corpus (lmpipe) $(grep -oP 'project\(lmpipe VERSION \K[0-9.]+' "$LMPIPE_SOURCE/CMakeLists.txt")" "--version"

done_testing
