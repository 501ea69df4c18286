#!/usr/bin/env bash
# Training on preference pairs (prefs shards). The reward model (--objective reward): a language model's
# head is replaced by a score head (the vocabulary grown to ChatML's), training logs accuracy and margin,
# --eval-only reports them, checkpoints are GPT2ForSequenceClassification with a pad_token_id, --resume is
# exact, and the wrong data or model is refused. DPO (--objective dpo): against the --init-from model the
# first loss is log 2, rewards are logged, --resume with --ref is exact, a reference is required.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
export OMP_WAIT_POLICY=PASSIVE

tok-encode -v gpt2 "$samples/tinyshakespeare.txt" | make-pairs --task causal --max-len 64 --quiet -o text.shard
pretrain --preset gpt-nano --max-len 128 --data text.shard --batch-size 4 --steps 3 --threads 2 -v gpt2 -o base -q
tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' -o chatml 2> /dev/null
for i in 1 2 3 4; do cat "$LMPIPE_SOURCE/tests/data/chat/prefs.jsonl"; done > prefs.jsonl
make-prefs -v chatml -q --max-len 128 prefs.jsonl -o train.prefs
expect_eq "$(shard-cat --stats train.prefs | jq -c '[.records, .pairs]')" "[12,16]" "the first prompt's pairs grouped"

# --- training from a language model --------------------------------------------------------------------------------
pretrain --arch gpt --objective reward --init-from base --data train.prefs --val train.prefs --batch-size 4 --steps 6 \
  --lr 3e-3 --eval-every 3 --threads 2 -o rm --log rm.log 2> rm.err
expect_contains rm.err "the token embedding grows from 50257 to 50259 rows"
expect_eq "$(jq -c 'select(.step == 6 and .loss != null) | [(.loss | type), (.accuracy >= 0 and .accuracy <= 1), (.margin | type), (.pairs >= 4)]' rm.log)" \
  '["number",true,"number",true]' "a step logs loss, accuracy, margin and its pairs (4 records, 1 or 2 pairs each)"
expect_eq "$(jq -c 'select(.val_loss != null) | [(.val_accuracy | type), (.val_margin | type)]' rm.log | head -n 1)" \
  '["number","number"]' "evaluations log accuracy and margin"
expect_eq "$(jq -c '[.architectures[0], .pad_token_id, .id2label]' rm/latest/config.json)" \
  '["GPT2ForSequenceClassification",50256,{"0":"LABEL_0"}]' "a sequence classifier of one label, padded with <|endoftext|>"
eval=$(pretrain --arch gpt --objective reward --init-from rm --eval-only --val train.prefs --batch-size 4 --threads 2)
expect_eq "$(jq -c '[.pairs, (.accuracy | type), (.loss > 0)]' <<< "$eval")" '[16,"number",true]' "--eval-only: loss, accuracy, margin"
rounded='[(.loss * 1e5 | round), .accuracy, (.margin * 1e5 | round), .pairs]'
expect_eq "$(pretrain --arch gpt --objective reward --init-from rm --eval-only --val train.prefs --batch-size 2 --threads 1 | jq -c "$rounded")" \
  "$(jq -c "$rounded" <<< "$eval")" "the evaluation does not depend on batch or threads (but for rounding)"

# --- --resume continues exactly (a run stopped after its step-3 checkpoint, the same --steps) ---------------------------
common=(--arch gpt --objective reward --data train.prefs --batch-size 4 --steps 6 --lr 3e-3 --threads 2 -q)
pretrain "${common[@]}" --init-from base --save-every 3 -o full
mkdir split && cp -r full/step-3 split/ && ln -s step-3 split/latest
pretrain "${common[@]}" --resume -o split
expect_eq "$(jq -c 'select(.step > 3 and .loss != null) | [.loss, .accuracy]' split/metrics.jsonl)" \
  "$(jq -c 'select(.step > 3 and .loss != null) | [.loss, .accuracy]' full/metrics.jsonl)" "the losses of a run that never stopped"
cmp -s full/step-6/model.safetensors split/step-6/model.safetensors || fail "resumed weights differ"

# --- the wrong data or model ------------------------------------------------------------------------------------------
make-chat -v chatml -q --max-len 129 "$LMPIPE_SOURCE/tests/data/chat/conversations.jsonl" -o chat.shard
expect_status 1 pretrain --arch gpt --objective reward --init-from base --data chat.shard --steps 1 -o never
expect_contains err.txt "reads prefs shards, not chat"
expect_status 2 pretrain --arch gpt --init-from rm --data chat.shard --steps 1 -o never
expect_contains err.txt "this one has a score head"
expect_status 1 sample rm --prompt "Hi"
expect_contains err.txt "a reward model"

# --- DPO from an SFT model: the policy starts as its reference -----------------------------------------------------------
pretrain --arch gpt --init-from base --data chat.shard --batch-size 2 --steps 2 --threads 2 -o sft -q
dpo=(--arch gpt --objective dpo --data train.prefs --batch-size 4 --steps 4 --lr 1e-3 --beta 0.1 --threads 2 -q)
pretrain "${dpo[@]}" --init-from sft --save-every 2 -o dpo
expect_eq "$(jq -c 'select(.step == 1) | [(.loss * 1e6 | round), .chosen_reward, .rejected_reward, .margin]' dpo/metrics.jsonl)" \
  "[693147,0,0,0]" "the first step: policy = reference, rewards 0, loss log 2"
expect_eq "$(jq -c 'select(.step == 4) | [(.loss | type), (.accuracy | type), (.chosen_reward | type), (.pairs >= 4)]' dpo/metrics.jsonl)" \
  '["number","number","number",true]' "later steps log loss, accuracy, implicit rewards, pairs"
expect_eq "$(pretrain --arch gpt --objective dpo --init-from sft --eval-only --val train.prefs --batch-size 4 --threads 2 |
             jq -c '[(.loss * 1e6 | round), .margin, .pairs]')" "[693147,0,16]" "--eval-only of the reference itself"
expect_eq "$(jq -r '.architectures[0]' dpo/latest/config.json)" "GPT2LMHeadModel" "the policy is a language model"
[ -s dpo/latest/tokenizer_config.json ] || fail "DPO checkpoints carry the chat template"
mkdir dpo-split && cp -r dpo/step-2 dpo-split/ && ln -s step-2 dpo-split/latest
pretrain "${dpo[@]}" --resume --ref sft -o dpo-split
expect_eq "$(jq -c 'select(.step > 2) | .loss' dpo-split/metrics.jsonl)" "$(jq -c 'select(.step > 2) | .loss' dpo/metrics.jsonl)" \
  "--resume --ref continues exactly"
expect_status 2 pretrain "${dpo[@]}" --resume -o dpo-split
expect_contains err.txt "--objective dpo needs its reference model"
# From a model without the ChatML markers: policy and reference both grow as they start, so they agree.
pretrain --arch gpt --objective dpo --data train.prefs --batch-size 4 --steps 1 --threads 2 -q --init-from base -o dpo-base
expect_eq "$(jq -c 'select(.step == 1) | [(.loss * 1e6 | round), .chosen_reward]' dpo-base/metrics.jsonl)" "[693147,0]" \
  "the reference is the policy as it starts, grown like it"
expect_status 2 pretrain "${dpo[@]}" --init-from sft --ref base -o never
expect_contains err.txt "the reference must be a language model of the policy's vocabulary (50259 ids)"
# --precompute-ref: the reference's pass over the training data once, the same steps as a pass a step.
pretrain "${dpo[@]:0:${#dpo[@]}-1}" --init-from sft --precompute-ref --save-every 2 -o dpo-pre 2> pre.err
expect_contains pre.err "pretrain: the reference's log-probabilities of 16 pairs in"
expect_eq "$(jq -c 'select(.loss != null) | [(.loss * 1e5 | round), (.margin * 1e5 | round) + 0]' dpo-pre/metrics.jsonl)" \
  "$(jq -c 'select(.loss != null) | [(.loss * 1e5 | round), (.margin * 1e5 | round) + 0]' dpo/metrics.jsonl)" \
  "the losses of a reference pass every step"
mkdir dpo-pre-split && cp -r dpo-pre/step-2 dpo-pre-split/ && ln -s step-2 dpo-pre-split/latest
pretrain "${dpo[@]}" --resume --ref sft --precompute-ref -o dpo-pre-split
expect_eq "$(jq -c 'select(.step > 2) | .loss' dpo-pre-split/metrics.jsonl)" \
  "$(jq -c 'select(.step > 2) | .loss' dpo-pre/metrics.jsonl)" "--resume --precompute-ref continues exactly"
expect_status 2 pretrain --arch gpt --objective reward --init-from sft --data train.prefs --steps 1 --precompute-ref -o never
expect_contains err.txt "--precompute-ref is DPO's (--objective dpo)"

# --rpo-alpha: at the first step DPO's part is log 2 and RPO's is alpha x the chosen replies' NLL per token
# (weighted by record, as the loss is; chosen_nll is the plain mean over pairs).
pretrain "${dpo[@]}" --init-from sft --rpo-alpha 0.5 -o dpo-rpo
pretrain "${dpo[@]}" --init-from sft --rpo-alpha 1 -o dpo-rpo1
first_loss() { jq -r 'select(.step == 1) | .loss' "$1/metrics.jsonl"; }
expect_eq "$(jq -n "($(first_loss dpo-rpo1) - (2 | log)) - 2 * ($(first_loss dpo-rpo) - (2 | log)) | . * 1e6 | round | fabs")" \
  "0" "RPO's first loss: log 2 + alpha x the chosen NLL"
expect_eq "$(jq -n "$(first_loss dpo-rpo) - (2 | log) > 0.1")" "true" "RPO's term is there"
expect_eq "$(jq -c 'select(.step == 1) | [.chosen_nll > 0.2, .chosen_reward]' dpo-rpo/metrics.jsonl)" "[true,0]" \
  "chosen_nll is logged"
expect_status 2 pretrain --arch gpt --objective reward --init-from sft --data train.prefs --steps 1 --rpo-alpha 1 -o never
expect_contains err.txt "--rpo-alpha is DPO's (--objective dpo)"

done_testing
