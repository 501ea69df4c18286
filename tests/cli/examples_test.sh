#!/usr/bin/env bash
# The example Makefiles run as written (with small step counts) on the shipped corpus, and rebuild only what
# a change makes stale.
source "$(dirname "$0")/lib.sh"
export OMP_WAIT_POLICY=PASSIVE

# --- examples/gpt: the whole pipeline to samples.txt -------------------------------------------------------------------
gpt=(-f "$LMPIPE_SOURCE/examples/gpt/Makefile" BIN="$LMPIPE_BIN/" STEPS=30 EVAL_EVERY=10 MAX_LEN=32 PRESET=gpt-nano
     VOCAB_SIZE=300 BATCH=8 "SAMPLE_FLAGS=--max-new-tokens 30 --num-samples 2 --seed 3")
mkdir gpt && cd gpt
make -s "${gpt[@]}" > make.log 2>&1 || fail "make examples/gpt: $(tail -n 20 make.log)"
for f in vocab/vocab.json vocab/merges.txt train.windows val.windows run/latest/model.safetensors run/metrics.jsonl \
         run/loss.svg samples.txt; do
  [ -s "$f" ] || fail "examples/gpt made no $f"
done
expect_eq "$(jq -s '[.[] | select(.val_loss != null)] | length' run/metrics.jsonl)" "3" "validation every 10 of 30 steps"
expect_eq "$(grep -c '^---------------$' samples.txt)" "1" "two samples"
expect_eq "$(jq -r .model_type run/latest/config.json)" "gpt2" "the checkpoint"
# Up to date: nothing to do. A newer corpus split for validation redoes only what depends on it.
make -q "${gpt[@]}" || fail "a second make has work to do"
touch val.txt
expect_eq "$(make -n "${gpt[@]}" | grep -o -E '(tok-train|tok-encode|make-pairs|pretrain|sample) ' | sort | uniq -c | tr -s ' ' | paste -sd',')" \
  " 1 make-pairs , 1 pretrain , 1 sample , 1 tok-encode " "after touching val.txt: its shards, the model and the samples"
cd ..

done_testing
