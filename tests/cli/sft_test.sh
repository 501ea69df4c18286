#!/usr/bin/env bash
# Supervised fine-tuning (pretrain on chat shards): a GPT pretrained on GPT-2's vocabulary grows to the
# ChatML vocabulary (new rows the mean of the old), trains on what the assistant says only, evaluates the
# same loss packed or not, and writes checkpoints that carry the chat template; vocabularies that do not
# extend the model's are refused.
source "$(dirname "$0")/lib.sh"
samples="$LMPIPE_SOURCE/tests/data/tok"
export OMP_WAIT_POLICY=PASSIVE

# A base model on GPT-2's vocabulary, and the conversations in ChatML.
tok-encode -v gpt2 "$samples/tinyshakespeare.txt" | make-pairs --task causal --max-len 64 --quiet -o text.shard
pretrain --preset gpt-nano --max-len 128 --data text.shard --batch-size 4 --steps 3 --threads 2 -v gpt2 -o base -q
tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' -o chatml 2> /dev/null
make-chat -v chatml -q --max-len 129 "$LMPIPE_SOURCE/tests/data/chat/conversations.jsonl" -o chat.shard
make-chat -v chatml -q --max-len 129 --pack "$LMPIPE_SOURCE/tests/data/chat/conversations.jsonl" -o packed.shard
expect_eq "$(shard-cat --stats packed.shard | jq -c '[.records, .conversations]')" "[1,5]" "five conversations in one record"

# --- the embedding grows, the loss is over the assistant's tokens ---------------------------------------------------
pretrain --arch gpt --init-from base --data chat.shard --batch-size 2 --steps 4 --threads 2 -o sft --log sft.log 2> sft.err
expect_contains sft.err "the token embedding grows from 50257 to 50259 rows"
expect_eq "$(jq .vocab_size sft/latest/config.json)" "50259" "config.json says the new size"
loss_tokens=$(shard-cat --stats chat.shard | jq .loss_tokens)
eval=$(pretrain --arch gpt --init-from sft --eval-only --val chat.shard --batch-size 2)
expect_eq "$(jq .tokens <<< "$eval")" "$loss_tokens" "--eval-only counts the masked-in tokens"
packed=$(pretrain --arch gpt --init-from sft --eval-only --val packed.shard --batch-size 1)
expect_eq "$(jq -n --argjson a "$eval" --argjson b "$packed" '($a.loss - $b.loss) | fabs < 1e-5')" "true" \
  "packed conversations see only themselves: the same loss ($(jq -c .loss <<< "$eval") $(jq -c .loss <<< "$packed"))"
expect_eq "$(jq .tokens <<< "$packed")" "$loss_tokens" "the same tokens, packed"
expect_eq "$(jq -s '[.[] | select(.targets != null)] | length' sft.log)" "4" "each step logs its targets"

# --- checkpoints carry the extended tokenizer and the chat template -------------------------------------------------
for f in vocab.json merges.txt tokenizer.json tokenizer_config.json special_tokens_map.json; do
  [ -f "sft/latest/$f" ] || fail "the SFT checkpoint has no $f"
done
expect_eq "$(jq -r '.chat_template | contains("<|im_start|>") and contains("generation")' sft/latest/tokenizer_config.json)" \
  "true" "tokenizer_config.json holds the ChatML template"
expect_eq "$(jq -c '[.eos_token, .additional_special_tokens]' sft/latest/special_tokens_map.json)" \
  '["<|im_end|>",["<|im_start|>","<|im_end|>"]]' "special_tokens_map.json"
expect_eq "$(jq 'length' sft/latest/vocab.json)" "50259" "the extended vocab.json"
# Another run from the SFT checkpoint needs no growing.
pretrain --arch gpt --init-from sft --data packed.shard --batch-size 1 --steps 1 --threads 2 -o sft2 2> sft2.err
expect_eq "$(grep -c grows sft2.err)" "0" "a model of the data's size does not grow"

# --- vocabularies that do not extend the model's -------------------------------------------------------------------
# GPT-2's vocabulary with two tokens' ids swapped, then extended: 50259 ids, but not the model's first 50257.
mkdir swapped && cp "$LMPIPE_SOURCE/share/vocab/gpt2/merges.txt" swapped/
jq -c '.a as $a | .b as $b | .a = $b | .b = $a' "$LMPIPE_SOURCE/share/vocab/gpt2/vocab.json" > swapped/vocab.json
tok-train --extend swapped --add-special '<|im_start|>' --add-special '<|im_end|>' -o swapped-chatml 2> /dev/null
make-chat -v swapped-chatml -q --max-len 129 "$LMPIPE_SOURCE/tests/data/chat/conversations.jsonl" -o swapped.shard
expect_status 2 pretrain --arch gpt --init-from base --data swapped.shard --batch-size 2 --steps 1 -o never
expect_contains err.txt "does not extend the model's 50257"
[ ! -e never ] || fail "a refused run left a directory"
# A data vocabulary pretrain cannot find: the header's directory is gone and no -v.
mv chatml chatml-moved
expect_status 2 pretrain --arch gpt --init-from base --data chat.shard --batch-size 2 --steps 1 -o never
expect_contains err.txt "give the data's vocabulary with -v"
pretrain --arch gpt --init-from base --data chat.shard --batch-size 2 --steps 1 -v chatml-moved -o with-v -q
expect_eq "$(jq .vocab_size with-v/latest/config.json)" "50259" "-v names the vocabulary"

# --- sample --messages and --chat -----------------------------------------------------------------------------------
printf '%s\n' '{"messages": [{"role": "user", "content": "Hi"}]}' \
  '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}' \
  > prompts.jsonl
sample sft --messages prompts.jsonl --greedy --max-new-tokens 6 > replies.jsonl
expect_eq "$(jq -c '[(.messages | length), (.messages | last | .role), (.ids | length <= 6), (.finish_reason | IN("end", "length"))]' replies.jsonl | tr '\n' ' ')" \
  '[1,"user",true,true] [2,"user",true,true] ' "a reply to the last user turn of each conversation"
expect_eq "$(sample sft --messages prompts.jsonl --greedy --max-new-tokens 6 | md5sum)" "$(md5sum < replies.jsonl)" "greedy replies repeat"
expect_eq "$(sample sft --messages prompts.jsonl --system 'You are terse.' --greedy --max-new-tokens 2 | jq -c '[.messages[0].role, .messages[0].content]' | tr '\n' ' ')" \
  '["system","You are terse."] ["system","Be brief."] ' "--system where the conversation has none"
printf '%s\n' '{"messages": [{"role": "user", "content": "Hi"}]}' '{"messages": [{"role": "robot", "content": "x"}]}' > bad.jsonl
expect_status 1 sample sft --messages bad.jsonl --max-new-tokens 2
expect_contains err.txt "sample: error: bad.jsonl:2: message 0 has role \"robot\""
# A conversation on stdin: a reply per turn; a history longer than the 128 positions loses its oldest turns.
long="$(printf 'word %.0s' $(seq 40))"
printf '%s\n' "$long" "$long" "$long" "$long" | sample sft --chat --system 'Be brief.' --max-new-tokens 8 --seed 3 > chat.txt 2> chat.err
expect_contains chat.err "the conversation outgrew the context"
# On a terminal (script(1) gives sample a pseudo-terminal, which echoes the typed lines): a "user> " prompt before
# each turn and one at the end of input, the same replies as from a pipe.
printf '%s\n' 'Hi' 'How are you?' | sample sft --chat --max-new-tokens 8 --seed 3 > piped.txt
printf '%s\n' 'Hi' 'How are you?' | script -qec "sample sft --chat --max-new-tokens 8 --seed 3" /dev/null | tr -d '\r' > tty.txt
expect_eq "$(grep -c '^user> ' tty.txt)" 3 "a prompt per turn on a terminal"
expect_eq "$(sed -n 's/^user> //p' tty.txt | head -n 2)" "$(cat piped.txt)" "replies on a terminal as from a pipe"
expect_status 2 sample sft --system 'x' --prompt 'Hi'
expect_contains err.txt "--system needs --chat or --messages"
expect_status 2 sample base --chat
expect_contains err.txt "chat needs a model fine-tuned on make-chat conversations"

done_testing
