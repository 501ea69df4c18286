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

# --- examples/bert: WordPiece, NSP pairs, static masks, BERT, eval.json --------------------------------------------------
bert=(-f "$LMPIPE_SOURCE/examples/bert/Makefile" BIN="$LMPIPE_BIN/" STEPS=20 EVAL_EVERY=10 WARMUP=5 VAL_PERCENT=2
      VOCAB_SIZE=500 MAX_LEN=32 DUPE_FACTOR=1 MAX_PREDICTIONS=5 D_MODEL=64 BATCH=8)
mkdir bert && cd bert
make -s "${bert[@]}" > make.log 2>&1 || fail "make examples/bert: $(tail -n 20 make.log)"
for f in vocab/vocab.txt train.masked val.masked run/latest/model.safetensors run/latest/vocab.txt run/metrics.jsonl \
         run/loss.svg eval.json; do
  [ -s "$f" ] || fail "examples/bert made no $f"
done
expect_eq "$(jq -r .model_type run/latest/config.json)" "bert" "the checkpoint"
expect_eq "$(jq -s '[.[] | select(.val_mlm_acc != null and .val_nsp_acc != null)] | length' run/metrics.jsonl)" "2" \
  "validation (MLM and NSP) every 10 of 20 steps"
expect_eq "$(jq -c '[.mlm_loss, .mlm_acc, .nsp_loss, .nsp_acc]' eval.json)" \
  "$(jq -s -c '[.[] | select(.val_mlm_loss != null)][-1] | [.val_mlm_loss, .val_mlm_acc, .val_nsp_loss, .val_nsp_acc]' \
    run/metrics.jsonl)" "eval.json: the last validation"
# The split is at a blank line: no document is cut in two.
cat train.txt <(echo) val.txt | cmp -s - "$LMPIPE_SOURCE/share/corpus/tinyshakespeare.txt" ||
  fail "train.txt, a blank line and val.txt are not the corpus"
expect_eq "$(head -n 1 val.txt | grep -c ':$')" "1" "val.txt starts with a speech"
make -q "${bert[@]}" || fail "a second make has work to do"
touch val.txt
expect_eq "$(make -n "${bert[@]}" | grep -o -E '(tok-train|tok-encode|make-pairs|mask-corpus|pretrain) ' | sort | uniq -c | tr -s ' ' | paste -sd',')" \
  " 1 make-pairs , 1 mask-corpus , 2 pretrain , 1 tok-encode " "after touching val.txt: its shards, the model and eval.json"
cd ..

# --- examples/roberta: byte-level BPE, full-sentence blocks at two lengths, dynamic masks, a length schedule ---------------
roberta=(-f "$LMPIPE_SOURCE/examples/roberta/Makefile" BIN="$LMPIPE_BIN/" STEPS=20 EVAL_EVERY=10 WARMUP=5 VAL_PERCENT=2
         VOCAB_SIZE=500 SHORT_LEN=16 MAX_LEN=32 SEQ_LEN_SCHEDULE=16:0.5,32:0.5 D_MODEL=64 BATCH=8)
mkdir roberta && cd roberta
make -s "${roberta[@]}" > make.log 2>&1 || fail "make examples/roberta: $(tail -n 20 make.log)"
for f in vocab/vocab.json vocab/merges.txt train.16.pairs train.32.pairs val.32.pairs run/latest/model.safetensors \
         run/latest/merges.txt run/metrics.jsonl run/loss.svg eval.json; do
  [ -s "$f" ] || fail "examples/roberta made no $f"
done
expect_eq "$(jq -r .model_type run/latest/config.json)" "roberta" "the checkpoint"
expect_eq "$(jq -s '[.[] | select(.val_mlm_acc != null)] | length' run/metrics.jsonl)" "2" "validation every 10 of 20 steps"
expect_eq "$(jq -c 'select(.loss != null) | .seq_len' run/metrics.jsonl | uniq -c | tr -s ' ' | paste -sd',')" \
  " 10 16, 10 32" "short blocks first, then long ones"
expect_eq "$(jq .mlm_loss eval.json)" "$(jq -s '[.[] | select(.val_mlm_loss != null)][-1].val_mlm_loss' run/metrics.jsonl)" \
  "eval.json: the last validation"
make -q "${roberta[@]}" || fail "a second make has work to do"
touch val.txt
expect_eq "$(make -n "${roberta[@]}" | grep -o -E '(tok-train|tok-encode|make-pairs|pretrain) ' | sort | uniq -c | tr -s ' ' | paste -sd',')" \
  " 1 make-pairs , 2 pretrain , 1 tok-encode " "after touching val.txt: its blocks, the model and eval.json"
cd ..

# --- examples/chat: a base model, the ChatML vocabulary, word problems, three fine-tunings, four accuracies -------------
chat=(-f "$LMPIPE_SOURCE/examples/chat/Makefile" BIN="$LMPIPE_BIN/" PRESET=gpt-nano VOCAB_SIZE=400 MAX_LEN=128
      BASE_STEPS=5 SFT_STEPS=5 TRAIN=100 TEST=12 SHOTS=1 MAX_NEW_TOKENS=8)
mkdir chat && cd chat
make -s "${chat[@]}" > make.log 2>&1 || fail "make examples/chat: $(tail -n 20 make.log)"
for f in chatml/tokenizer.json base/latest/model.safetensors train-steps.chat train-direct.chat \
         sft-steps/latest/tokenizer_config.json sft-direct/latest/model.safetensors sft-mixed/latest/model.safetensors \
         answers-fewshot.jsonl accuracy.json; do
  [ -s "$f" ] || fail "examples/chat made no $f"
done
expect_eq "$(jq -c '[.[] | .total]' accuracy.json)" "[12,12,12,12]" "four accuracies over the 12 held-out problems"
expect_eq "$(jq -c 'keys' accuracy.json)" '["answers-direct.jsonl","answers-fewshot.jsonl","answers-mixed.jsonl","answers-steps.jsonl"]' \
  "what accuracy.json scores"
# The mixed set: each training problem in its place, answered as in the worked or the direct set, both styles present.
expect_eq "$(jq -n -c --slurpfile m problems/train-mixed.jsonl --slurpfile s problems/train-steps.jsonl \
  --slurpfile d problems/train-direct.jsonl '[range($m | length) as $i | $m[$i].messages |
  if . == $s[$i].messages then "worked" elif . == $d[$i].messages then "direct" else "neither" end] | unique')" \
  '["direct","worked"]' "the mixed set: the same problems, in both styles"
expect_eq "$(jq .vocab_size sft-steps/latest/config.json)" "$(( $(jq .vocab_size base/latest/config.json) + 2 ))" \
  "the fine-tuned models have the two markers more"
expect_eq "$(jq -s 'map(.messages | last | .role) | unique' answers-steps.jsonl | jq -c .)" '["user"]' \
  "sample --messages answered each test question"
expect_eq "$(jq -r '.messages[1].content' problems/test.jsonl | sort | comm -12 - <(jq -r '.messages[1].content' problems/train-steps.jsonl | sort) | wc -l)" \
  "0" "no held-out question is in the training split"
# A worked answer repeats the question's first sentence, then each of the others followed by its arithmetic.
expect_eq "$(jq -r '.messages as $m | $m[1].content | startswith($m[2].content | split("\n")[0])' problems/train-steps.jsonl | sort -u)" \
  "true" "worked steps start with the question's first sentence"
expect_eq "$(jq -r '.messages[2].content | split("\n")[1:-1][]' problems/train-steps.jsonl | grep -cvE '^[A-Z][^.]*\. [0-9]+ [-+*] [0-9]+ = [0-9]+$')" \
  "0" "worked steps: a sentence of the question, then its arithmetic"
# The score reads the number after the last "Answer:".
printf '%s\n' '{"reply": "3 + 4 = 7\nAnswer: 7"}' '{"reply": "Answer: 5, no: Answer: 6"}' '{"reply": "7"}' > replies.jsonl
printf '%s\n' '{"answer": 7}' '{"answer": 6}' '{"answer": 7}' > truth.jsonl
expect_eq "$(python3 "$LMPIPE_SOURCE/examples/chat/problems.py" score truth.jsonl replies.jsonl | jq -c '.[] | [.correct, .total]')" \
  "[2,3]" "problems.py score"
make -q "${chat[@]}" || fail "a second make has work to do"
cd ..

# --- examples/rlhf: the labeller's pairs, a reward model, DPO, PPO, PPO-ptx, RLOO, best-of-N, results.json ---------------
# The chat example's small settings, with enough fine-tuning that replies end in "Answer: N" for the labeller.
rlhf=(-f "$LMPIPE_SOURCE/examples/rlhf/Makefile" BIN="$LMPIPE_BIN/" PRESET=gpt-nano VOCAB_SIZE=400 MAX_LEN=128
      BASE_STEPS=5 SFT_STEPS=200 "SFT_FLAGS=--batch-size 8 --lr 3e-3" TRAIN=200 TEST=12 SHOTS=1 SFT=direct MAX_NEW_TOKENS=8 PREF_PROMPTS=60 RL_PROMPTS=16
      RM_STEPS=3 "RM_FLAGS=--batch-size 4" DPO_STEPS=2 "DPO_FLAGS=--batch-size 4 --lr 1e-6" PPO_ITERATIONS=2
      "PPO_FLAGS=--batch-size 4 --minibatch 2 --ppo-epochs 1" "PTX_FLAGS=--ptx-coef 1 --ptx-batch 1"
      "RLOO_FLAGS=--rloo 2 --batch-size 4 --minibatch 2 --ppo-epochs 1" BEST_OF=2 EVAL_SAMPLES=2)
mkdir rlhf && cd rlhf
make -s "${rlhf[@]}" > make.log 2>&1 || fail "make examples/rlhf: $(tail -n 20 make.log)"
for f in prefs/train.jsonl train.prefs rm/latest/model.safetensors dpo/latest/model.safetensors rl.chat \
         ppo/latest/value/model.safetensors ppo-ptx/metrics.jsonl rloo/metrics.jsonl eval-best-of.jsonl kl-ppo.json \
         kl-rloo.json results.json tilt.json; do
  [ -s "$f" ] || fail "examples/rlhf made no $f"
done
expect_eq "$(jq -c '[.problems, .samples_per_problem, .reward_model_val_pairs > 0, [.rows[].model]]' results.json)" \
  '[12,2,true,["SFT","best-of-2","DPO","PPO","PPO-ptx","RLOO"]]' "results.json: six rows over two samples of 12 held-out problems"
[ "$(wc -l < eval-ppo.jsonl)" = 24 ] || fail "two samples of each held-out problem"
expect_eq "$(jq -c '[.rows[] | (.score >= 0 and .score <= 1), (.score_se >= 0), (.kl_to_sft | type)] | unique' results.json)" \
  '[true,"number"]' "each row: the labeller's score, its standard error and the KL to the SFT model"
expect_eq "$(jq -c '.rows[0].kl_to_sft' results.json)" "0" "the SFT model's KL to itself"
expect_eq "$(jq -r 'select(.ptx_loss != null) | .step' ppo-ptx/metrics.jsonl | paste -sd,)" "1,2" "PPO-ptx logs its LM loss"
# The labeller: the nearer final answer wins, any answer beats none, equally near ones make no pair.
printf '%s\n' '{"messages": [], "answer": 7}' '{"messages": [], "answer": 7}' '{"messages": [], "answer": 7}' > p.jsonl
printf '%s\n' '{"reply": "Answer: 9"}' '{"reply": "no idea"}' '{"reply": "Answer: 5"}' > a.jsonl
printf '%s\n' '{"reply": "Answer: 7"}' '{"reply": "Answer: 50"}' '{"reply": "Answer: 9"}' > b.jsonl
python3 "$LMPIPE_SOURCE/examples/rlhf/labeller.py" pairs p.jsonl a.jsonl b.jsonl -o pairs > counts.json
expect_eq "$(jq -c '[.chosen, .rejected]' pairs/train.jsonl | paste -sd' ')" \
  '["Answer: 7","Answer: 9"] ["Answer: 50","no idea"]' "the labeller's preferences"
expect_eq "$(jq -c '[.train_pairs, .right_over_wrong, .no_preference]' counts.json)" "[2,1,1]" "the labeller's counts"
# Three samples: every pair of different replies with a preference, a prompt's pairs together (duplicates once).
printf '%s\n' '{"reply": "Answer: 10"}' '{"reply": "Answer: 50"}' '{"reply": "Answer: 5"}' > c.jsonl
python3 "$LMPIPE_SOURCE/examples/rlhf/labeller.py" pairs p.jsonl a.jsonl b.jsonl c.jsonl -o pairs3 > counts3.json
expect_eq "$(jq -c '[.chosen, .rejected]' pairs3/train.jsonl | paste -sd' ')" \
  '["Answer: 7","Answer: 9"] ["Answer: 7","Answer: 10"] ["Answer: 9","Answer: 10"] ["Answer: 50","no idea"]' \
  "the labeller's pairs of three samples"
expect_eq "$(jq -c '[.train_pairs, .right_over_wrong, .no_preference]' counts3.json)" "[4,2,1]" "their counts"
# The table: two samples of each of two problems, right and wrong, right and right: 0.75, SE over problems 0.25.
head -n 2 p.jsonl > p1.jsonl
python3 "$LMPIPE_SOURCE/examples/rlhf/labeller.py" repeat p1.jsonl --times 2 > p2.jsonl
printf '%s\n' '{"reply": "Answer: 7"}' '{"reply": "Answer: 9"}' '{"reply": "Answer: 7"}' '{"reply": "Answer: 7"}' > s2.jsonl
echo '{"accuracy": 0.5, "pairs": 2}' > rm2.json
expect_eq "$(python3 "$LMPIPE_SOURCE/examples/rlhf/labeller.py" table p2.jsonl --rm-eval rm2.json --per-problem 2 \
  --row X s2.jsonl 0.5 | jq -c '[.problems, .rows[0].score, .rows[0].score_se, .rows[0].kl_to_sft]')" \
  "[2,0.75,0.25,0.5]" "the labeller's table"
# The tilted policy pi_SFT exp(r / beta): of a problem's six samples one right, weighed 3 against five 1s.
printf '{"reward": %s}\n' 0 0 0 > r0.jsonl
printf '{"reward": %s}\n' 1.0986122886681098 0 0 > r1.jsonl
expect_eq "$(python3 "$LMPIPE_SOURCE/examples/rlhf/labeller.py" tilt p.jsonl --per-problem 3 --samples a.jsonl b.jsonl \
  --rewards r0.jsonl r1.jsonl --beta 1 1e9 | jq -c '[.score, .kl]' | paste -sd' ')" "[0.375,0.1243] [0.1667,0]" \
  "the labeller's score and KL of the tilted SFT samples (3/8; 1/8 log(6/8) x 5 + 3/8 log(18/8)), untilted at a large beta"
echo '{"reply": ' > broken.jsonl
expect_status 1 python3 "$LMPIPE_SOURCE/examples/rlhf/labeller.py" kl broken.jsonl s2.jsonl
expect_contains err.txt "labeller.py: error: broken.jsonl:1: not a JSON line"
: > empty.json
expect_status 1 python3 "$LMPIPE_SOURCE/examples/rlhf/labeller.py" table p2.jsonl --rm-eval empty.json --per-problem 2 \
  --row X s2.jsonl 0.5
expect_contains err.txt "labeller.py: error: empty.json: empty"
make -q "${rlhf[@]}" || fail "a second make has work to do"
cd ..

# --- examples/vision: pictures and questions, a LLaVA and its blank-picture baseline, results.json ---------------------------
vision=(-f "$LMPIPE_SOURCE/examples/vision/Makefile" BIN="$LMPIPE_BIN/" TRAIN=60 TEST=20 STEPS=6 THREADS=1)
mkdir vision && cd vision
make -s "${vision[@]}" > make.log 2>&1 || fail "make examples/vision: $(tail -n 20 make.log)"
expect_eq "$(jq -c 'has("all") and (keys - ["all", "colour", "count", "position", "shape", "size"] == [])' results.json)" \
  true "a row per question type asked, and all"
expect_eq "$(jq -c '[.all.questions, (.all.pictures | type), (.all.blank | type), .count.chance]' results.json)" \
  '[20,"number","number",0.3333]' "accuracy with pictures and blank, beside chance"
expect_eq "$(jq -r .model_type llava/latest/config.json)" llava "the checkpoint"
expect_eq "$(wc -l < answers-llava.jsonl | tr -d ' ')" 20 "an answer a test question"
expect_eq "$(jq -r .image shapes/blank-test.jsonl | sort -u)" blank.png "the baseline sees one blank picture"
# Every answer is what was drawn: a picture's caption names as many shapes as its count answer says.
expect_eq "$(jq -r 'select(.type == "count") | "\(.image) \(.answer)"' shapes/train.jsonl | while read -r image n; do
  jq -r --arg i "$image" 'select(.image == $i) | .text' shapes/captions.jsonl | grep -o -E '(circle|square|triangle)' | wc -l |
    tr -d ' ' | grep -qx "$n" || echo "$image"; done)" "" "count answers match the captions"
make -q "${vision[@]}" || fail "a second make has work to do"
cd ..

done_testing
