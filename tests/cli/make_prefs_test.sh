#!/usr/bin/env bash
# make-prefs: preference pairs as a prompt in the ChatML template and two replies, the same ids make-chat
# gives the conversations they complete; pairs of one prompt grouped; cutting at --max-len from the
# prompt's start; --prompts-only for rollouts; bad lines reported by line or counted with --skip-bad.
source "$(dirname "$0")/lib.sh"

tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' -o chatml
cp "$LMPIPE_SOURCE/tests/data/chat/prefs.jsonl" prefs.jsonl  # strings and message lists, Unicode, an empty reply

# --- the ids: a prompt ending where the assistant's reply begins, replies closed by <|im_end|> ------------------------
make-prefs -v chatml --group 1 prefs.jsonl -o pairs.shard 2> pairs.err
expect_contains pairs.err "4 pairs in 4 records"
expect_eq "$(shard-cat --stats pairs.shard | jq -c '[.kind, .records, .pairs]')" '["prefs",4,4]' "a record per pair"
expect_eq "$(shard-cat pairs.shard | head -n 1)" \
  '{"ids":[50257,7220,198,2061,318,362,10,17,30,50258,198,50257,562,10167,198,19,50258,20,50258],"part_lens":[15,2,2]}' \
  "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n, then 4<|im_end|> and 5<|im_end|>"
# Prompt and chosen reply are the ids make-chat gives the conversation they make, but the "\n" after <|im_end|>.
jq -c '{messages: ((if (.prompt | type) == "string" then [{role: "user", content: .prompt}] else .prompt end)
        + [{role: "assistant", content: (if (.chosen | type) == "string" then .chosen else .chosen[0].content end)}])}' \
  prefs.jsonl > chosen-chats.jsonl
make-chat -v chatml -q chosen-chats.jsonl -o chosen.shard
expect_eq "$(shard-cat pairs.shard | jq -c '.ids[: .part_lens[0] + .part_lens[1]]')" \
  "$(shard-cat chosen.shard | jq -c '.ids[:-1]')" "prompt + chosen = make-chat's conversation"
expect_eq "$(shard-cat pairs.shard | sed -n 4p | jq -c '[.part_lens[2], .ids[-1]]')" '[1,50258]' \
  "an empty reply is <|im_end|> alone"

# --- pairs of one prompt form a record ---------------------------------------------------------------------------------
make-prefs -v chatml -q prefs.jsonl -o grouped.shard
expect_eq "$(shard-cat grouped.shard | jq -c '.part_lens | length' | tr '\n' ' ')" "5 3 3 " \
  "the two pairs of the first prompt in one record"
expect_eq "$(shard-cat --stats grouped.shard | jq -c '[.records, .pairs]')" '[3,4]' "every pair kept"

# --- --max-len: the prompt loses its start, down to half; then replies lose their end ----------------------------------
make-prefs -v chatml --group 1 --max-len 16 prefs.jsonl -o cut.shard 2> cut.err
expect_eq "$(shard-cat cut.shard | jq -c '[.part_lens[0], ([.part_lens[1:][]] | max)] | add' | tr '\n' ' ')" "16 16 16 16 " \
  "prompt and longest reply fill --max-len"
expect_eq "$(shard-cat cut.shard | jq -c '.part_lens' | tr '\n' ' ')" "[14,2,2] [10,3,6] [9,5,7] [8,8,1] " \
  "the prompt cut from its start, keeping half when the reply is long"
expect_eq "$(shard-cat cut.shard | jq -c '.ids[-1]' | head -n 3 | tr '\n' ' ')" "50258 50258 50258 " "replies keep their end"
expect_contains cut.err "4 prompts cut at --max-len, 1 with their completions cut too"
expect_eq "$(shard-cat cut.shard | tail -n 1 | jq -c '.ids[.part_lens[0]:]')" \
  "$(shard-cat pairs.shard | tail -n 1 | jq -c '.ids[.part_lens[0]:.part_lens[0] + 8] + [.ids[-1]]')" \
  "a reply cut at its end"
expect_status 2 make-prefs -v chatml --max-len 1 prefs.jsonl -o never.shard

# --- --prompts-only: a chat shard of prompts for rollouts ---------------------------------------------------------------
printf '%s\n' '{"prompt": "Say hi."}' >> prefs.jsonl
make-prefs -v chatml --prompts-only prefs.jsonl -o prompts.shard 2> prompts.err
expect_contains prompts.err "4 prompts"
expect_eq "$(shard-cat --stats prompts.shard | jq -c '[.kind, .records, .loss_tokens]')" '["chat",4,0]' \
  "each prompt once, nothing to learn"
expect_eq "$(shard-cat prompts.shard | head -n 1 | jq -c '.ids')" "$(shard-cat pairs.shard | head -n 1 | jq -c '.ids[: .part_lens[0]]')" \
  "the same prompt ids"
expect_eq "$(shard-cat --header prompts.shard | jq -c '.prompts')" "true" "the header says so"

# --- bad input ----------------------------------------------------------------------------------------------------------
bad() {  # LINE EXPECTED-MESSAGE: a file whose second line is LINE
  printf '%s\n%s\n' "$(head -n 1 prefs.jsonl)" "$1" > bad.jsonl
  expect_error 1 "make-prefs: error: bad.jsonl:2: $2" make-prefs -v chatml -q bad.jsonl -o never.shard
}
bad '{"prompt": "x", "chosen": ' "not JSON (a preference pair is one JSON object a line)"
bad '["x"]' "not a JSON object"
bad '{"chosen": "a", "rejected": "b"}' 'no "prompt"'
bad '{"prompt": 3, "chosen": "a", "rejected": "b"}' '"prompt" is neither a string nor a list of messages'
bad '{"prompt": [{"role": "robot", "content": "x"}], "chosen": "a", "rejected": "b"}' 'prompt message 0 has role "robot": not system, user or assistant'
bad '{"prompt": "x", "rejected": "b"}' 'no "chosen"'
bad '{"prompt": "x", "chosen": "a", "rejected": {"text": "b"}}' '"rejected" is neither a string nor a list of messages'
bad '{"prompt": "x", "chosen": [{"role": "user", "content": "a"}], "rejected": "b"}' '"chosen" is not one assistant message (it has 1 messages, a user one)'
bad '{"prompt": "x", "chosen": "same", "rejected": "same"}' '"chosen" and "rejected" are the same: nothing to prefer'
[ ! -e never.shard ] || fail "a failed make-prefs left its output"
cat prefs.jsonl bad.jsonl > mixed.jsonl
make-prefs -v chatml --skip-bad mixed.jsonl -o skipped.shard 2> skip.err
expect_contains skip.err "5 pairs in 4 records"
expect_contains skip.err "2 bad lines left out"  # a line with a prompt alone, and the bad one
expect_status 1 make-prefs -v gpt2 prefs.jsonl -o never.shard
expect_contains err.txt "the vocabulary has no <|im_start|> or <|im_end|> for the ChatML template"

done_testing
