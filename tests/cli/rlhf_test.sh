#!/usr/bin/env bash
# rlhf: PPO from an SFT model against a reward model on make-prefs prompts. The first iteration's KL to the
# reference is 0 (the policy starts as it), every iteration logs its figures, checkpoints are a language
# model with the value model beside it, sample loads them, --resume is exact, PPO-ptx logs its loss, RLOO
# trains without a value model, and the wrong inputs are refused.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
export OMP_WAIT_POLICY=PASSIVE

tok-encode -v gpt2 "$samples/tinyshakespeare.txt" | make-pairs --task causal --max-len 64 --quiet -o text.shard
pretrain --preset gpt-nano --max-len 128 --data text.shard --batch-size 4 --steps 3 --threads 2 -v gpt2 -o base -q
tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' -o chatml 2> /dev/null
make-chat -v chatml -q --max-len 128 "$LMPIPE_SOURCE/tests/data/chat/conversations.jsonl" -o chat.shard
pretrain --arch gpt --init-from base --data chat.shard --batch-size 2 --steps 2 --threads 2 -o sft -q 2> /dev/null
make-prefs -v chatml -q --max-len 128 "$LMPIPE_SOURCE/tests/data/chat/prefs.jsonl" -o train.prefs
pretrain --arch gpt --objective reward --init-from sft --data train.prefs --batch-size 2 --steps 2 --threads 2 -o rm -q
make-prefs -v chatml -q --prompts-only "$LMPIPE_SOURCE/tests/data/chat/prefs.jsonl" -o prompts.chat

ppo=(--policy sft --reward rm --prompts prompts.chat --batch-size 4 --minibatch 2 --ppo-epochs 2 --max-new-tokens 8
     --lr 1e-4 --threads 2 --seed 5)
rlhf "${ppo[@]}" --iterations 3 --save-every 1 -o ppo 2> ppo.err
expect_contains ppo.err "rlhf: iteration 3/3 score"
expect_eq "$(jq -c 'select(.step == 1) | [.kl, .non_score_reward]' ppo/metrics.jsonl)" "[0,0]" \
  "the first rollouts' KL to the reference is 0: the policy starts as the reference"
expect_eq "$(jq -c '[.score, .kl, .entropy, .response_length, .ended, .pg_loss, .vf_loss, .clip_fraction, .approx_kl,
                     .rollout_tokens_per_s, .seconds.rollout, .seconds.optimise] | map(type) | unique' ppo/metrics.jsonl | sort -u)" \
  '["number"]' "every iteration logs score, KL, entropy, lengths, losses, clipping, speeds and times"
expect_eq "$(jq -c 'select(.step == 3) | [(.kl != 0), (.response_length >= 1 and .response_length <= 8)]' ppo/metrics.jsonl)" \
  "[true,true]" "the policy moves away from the reference; responses within --max-new-tokens"
expect_eq "$(jq -r '.architectures[0]' ppo/latest/config.json)" "GPT2LMHeadModel" "the policy is a language model"
expect_eq "$(jq -r '.architectures[0]' ppo/latest/value/config.json)" "GPT2ForSequenceClassification" \
  "the value model beside it"
[ -s ppo/latest/tokenizer_config.json ] || fail "policy checkpoints carry the chat template"
[ -s ppo/loss.svg ] || fail "no loss.svg"
sample ppo --prompt "Hi" --max-new-tokens 3 --seed 1 > sample.txt || fail "sample cannot load the policy"

# --- --resume continues exactly ----------------------------------------------------------------------------------------
mkdir split && cp -r ppo/step-1 split/ && ln -s step-1 split/latest
rlhf "${ppo[@]}" --iterations 3 --resume -o split -q
expect_eq "$(jq -c 'select(.step > 1) | [.score, .kl, .pg_loss, .vf_loss]' split/metrics.jsonl)" \
  "$(jq -c 'select(.step > 1) | [.score, .kl, .pg_loss, .vf_loss]' ppo/metrics.jsonl)" "the figures of a run that never stopped"
cmp -s ppo/step-3/model.safetensors split/step-3/model.safetensors || fail "resumed policy weights differ"
cmp -s ppo/step-3/value/model.safetensors split/step-3/value/model.safetensors || fail "resumed value weights differ"
expect_status 2 rlhf "${ppo[@]:0:${#ppo[@]}-2}" --seed 6 --iterations 4 --resume -o split  # ppo ends --seed 5
expect_contains err.txt "was started with other settings"

# --- PPO-ptx and the adaptive KL coefficient ---------------------------------------------------------------------------
rlhf "${ppo[@]}" --iterations 2 --ptx-coef 0.5 --ptx-data text.shard --target-kl 0.001 --kl-coef 0.1 -o ptx -q
expect_eq "$(jq -c '[.ptx_loss > 0, .kl_coef]' ptx/metrics.jsonl | head -n 1)" "[true,0.1]" "PPO-ptx logs its LM loss"
expect_eq "$(jq -c 'select(.step == 2) | (.kl_coef != 0.1)' ptx/metrics.jsonl)" "true" "the coefficient adapts"

# --- RLOO: answers to each prompt in one batch, no value model -----------------------------------------------------------
rlhf "${ppo[@]}" --iterations 2 --rloo 2 --save-every 1 -o rloo -q
expect_eq "$(jq -c 'select(.step == 1) | [.kl, (.vf_loss == null), (.pg_loss | type)]' rloo/metrics.jsonl)" \
  '[0,true,"number"]' "RLOO logs the policy's figures and no value loss"
expect_eq "$(jq -r '.architectures[0]' rloo/latest/config.json)" "GPT2LMHeadModel" "the RLOO policy is a language model"
[ ! -e rloo/latest/value ] || fail "RLOO has no value model to save"
mkdir rloo-split && cp -r rloo/step-1 rloo-split/ && ln -s step-1 rloo-split/latest
rlhf "${ppo[@]}" --iterations 2 --rloo 2 --resume -o rloo-split -q
cmp -s rloo/step-2/model.safetensors rloo-split/step-2/model.safetensors || fail "resumed RLOO weights differ"
expect_status 2 rlhf "${ppo[@]}" --iterations 3 --resume -o rloo-split  # the same flags without --rloo
expect_contains err.txt "has no value model: it is an RLOO run's"
expect_status 2 rlhf "${ppo[@]}" --iterations 4 --rloo 2 --resume -o ppo
expect_contains err.txt "was started with other settings"
expect_status 2 rlhf "${ppo[@]}" --rloo 3 -o never
expect_contains err.txt "--batch-size 4 must be a multiple of --rloo 3"
expect_status 2 rlhf "${ppo[@]}" --rloo 1 -o never
expect_contains err.txt "--rloo must be at least 2"
expect_status 2 rlhf "${ppo[@]}" --rloo 2 --lam 0.9 -o never
expect_contains err.txt "--lam is PPO's value model's"
expect_status 2 rlhf "${ppo[@]}" --rloo 2 --value rm -o never
expect_contains err.txt "--value is PPO's value model"

# --- the sampler's flags: rollouts and log-probabilities at the temperature ---------------------------------------------
rlhf "${ppo[@]}" --iterations 1 --temperature 0.5 -o cold -q
expect_eq "$(jq -c .kl cold/metrics.jsonl)" "0" "the reference's log-probabilities are at the temperature too"
expect_eq "$(jq -s -c '.[0].entropy < .[1].entropy' cold/metrics.jsonl ppo/metrics.jsonl)" "true" \
  "the entropy at temperature 0.5 is below the one at 1"
rlhf "${ppo[@]}" --iterations 1 --top-k 1 --temperature 0.5 -o top1-cold -q
rlhf "${ppo[@]}" --iterations 1 --top-k 1 --temperature 2 -o top1-hot -q
expect_eq "$(jq -c '[.score, .response_length]' top1-cold/metrics.jsonl)" \
  "$(jq -c '[.score, .response_length]' top1-hot/metrics.jsonl)" "--top-k 1 takes the most probable token at any temperature"
expect_eq "$(jq -s -c '[.[].entropy] | .[0] < .[1]' top1-cold/metrics.jsonl top1-hot/metrics.jsonl)" "true" \
  "the entropy is the temperature's distribution's"
expect_status 2 rlhf "${ppo[@]}" --temperature 0 -o never
expect_contains err.txt "--temperature must be above 0"

# --- sample --score: a reward model's rewards, a chat model's log-probabilities -----------------------------------------
head -n 1 "$LMPIPE_SOURCE/tests/data/chat/prefs.jsonl" > pair.jsonl
make-prefs -v chatml -q --max-len 128 pair.jsonl -o pair.prefs
jq -c '{messages: [{role: "user", content: .prompt}, {role: "assistant", content: .chosen}]},
       {messages: [{role: "user", content: .prompt}, {role: "assistant", content: .rejected}]}' pair.jsonl > replies.jsonl
sample rm --score replies.jsonl > rewards.jsonl
expect_eq "$(jq -s '(.[0].reward - .[1].reward) * 1e5 | round' rewards.jsonl)" \
  "$(pretrain --arch gpt --objective reward --init-from rm --eval-only --val pair.prefs --threads 2 | jq '.margin * 1e5 | round')" \
  "the rewards' difference is the margin pretrain --eval-only reports"
sample sft --score replies.jsonl > logprobs.jsonl
head -n 1 replies.jsonl | make-chat -v chatml -q --max-len 129 -o reply.chat
expect_eq "$(head -n 1 logprobs.jsonl | jq -c '[(.logprob * 1e4 | round), .tokens]')" \
  "$(pretrain --arch gpt --init-from sft --eval-only --val reply.chat --threads 2 | jq -c '[(-.loss * 2 * 1e4 | round), 2]')" \
  "the reply's log-probability: minus the masked loss times its two tokens (\"4\", <|im_end|>)"
echo '{"messages": [{"role": "user", "content": "Hi"}]}' > unanswered.jsonl
expect_status 1 sample sft --score unanswered.jsonl
expect_contains err.txt "unanswered.jsonl:1: the last message is not the assistant's reply to score"

# --- the wrong inputs -----------------------------------------------------------------------------------------------------
expect_status 2 rlhf --policy sft --reward rm --prompts chat.shard -o never
expect_contains err.txt "a chat shard of whole conversations"
expect_status 2 rlhf --policy rm --reward rm --prompts prompts.chat -o never
expect_contains err.txt "--policy"
expect_status 2 rlhf --policy sft --reward sft --prompts prompts.chat -o never
expect_contains err.txt "not a GPT reward model"
expect_status 2 rlhf --policy sft --reward rm --prompts prompts.chat --ptx-coef 1 -o never
expect_contains err.txt "PPO-ptx takes both"
expect_status 2 rlhf "${ppo[@]}" -o ppo
expect_contains err.txt "already holds a run"
expect_status 2 rlhf "${ppo[@]}" --resume --overwrite -o ppo
expect_contains err.txt "not both"
[ -e ppo/latest/model.safetensors ] || fail "--resume --overwrite removed the run"
expect_status 2 rlhf --policy sft --reward rm --prompts prompts.chat --gamma nan -o never
expect_contains err.txt "--gamma must be in [0, 1]"
expect_status 2 rlhf --policy sft --reward rm --prompts prompts.chat --ptx-batch 2 -o never
expect_contains err.txt "--ptx-batch is PPO-ptx's"

done_testing
