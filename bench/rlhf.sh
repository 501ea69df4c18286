#!/usr/bin/env bash
# PPO's speed (issue 22): where an rlhf iteration's time goes (rollouts, the reward model's scores, the
# reference's log-probabilities, the policy's log-probabilities and values, optimisation), and whether the
# rollouts generate at the rate sample does on the same model and prompts (issue: "at the rate sample
# does"). The models: a PRESET GPT of T positions on the GPT-2 vocabulary with ChatML's markers (an LM head of
# 50259 rows, as a real chat model has), an "SFT" model and a reward model made from it in a few steps on the
# benchmark corpus's paragraphs; the prompts are paragraphs. Rollouts of NEW tokens (the end token is rare
# in an untrained model, so responses run to the limit).
#   bench/rlhf.sh [CORPUS]      (PRESET=gpt-baby T=256 NEW=64 BATCH=32 MINIBATCH=8 ITERATIONS=4 by default)
# OPENBLAS_CORETYPE is unset for the programs here (it slows OpenBLAS on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/bench/bench-corpus.txt}
bin=${BUILD:-build}/cmd
[ -x "$bin/rlhf" ] || .ci/setup
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/lib.sh
export OMP_WAIT_POLICY=PASSIVE
preset=${PRESET:-gpt-baby} T=${T:-256} new=${NEW:-64} batch=${BATCH:-32} minibatch=${MINIBATCH:-8}
iterations=${ITERATIONS:-4}
run() { env -u OPENBLAS_CORETYPE "$@"; }

$bin/tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' --quiet -o "$work/chatml"
python3 - "$corpus" "$work" "$batch" <<'PY'
import json, sys
corpus, work, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(corpus, encoding="utf-8") as f:
    paragraphs = [p.strip()[:400] for p in f.read().split("\n\n") if len(p.strip()) > 40][:3000]
with open(f"{work}/pairs.jsonl", "w") as pairs, open(f"{work}/chats.jsonl", "w") as chats, \
        open(f"{work}/prompts.jsonl", "w") as prompts:
    for i in range(0, len(paragraphs) - 2, 3):
        prompt, chosen, rejected = paragraphs[i:i + 3]
        pairs.write(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected}) + "\n")
        chats.write(json.dumps({"messages": [{"role": "user", "content": prompt},
                                             {"role": "assistant", "content": chosen}]}) + "\n")
        prompts.write(json.dumps({"prompt": prompt[:200]}) + "\n")
PY
$bin/make-prefs -v "$work/chatml" --max-len "$T" --group 1 --quiet "$work/pairs.jsonl" -o "$work/train.prefs"
$bin/make-prefs -v "$work/chatml" --prompts-only --quiet "$work/prompts.jsonl" -o "$work/prompts.chat"
$bin/make-chat -v "$work/chatml" --max-len "$((T + 1))" --quiet "$work/chats.jsonl" -o "$work/train.chat"
run $bin/pretrain --preset "$preset" --max-len "$T" --vocab-size 50259 --data "$work/train.chat" --batch-size 8 \
  --steps 20 --lr 1e-3 --threads 2 -v "$work/chatml" -o "$work/sft" --quiet
run $bin/pretrain --arch gpt --objective reward --init-from "$work/sft" --data "$work/train.prefs" --batch-size 8 \
  --steps 5 --threads 2 -o "$work/rm" --quiet

# sample's rate: the same prompts as conversations, one reply each of at most NEW tokens at temperature 1.
head -n "$batch" "$work/prompts.jsonl" | jq -c '{messages: [{role: "user", content: .prompt}]}' > "$work/messages.jsonl"
# best times a program, not a shell function: env unsets OPENBLAS_CORETYPE as run does. Its runs write the replies.
sample_s=$(best env -u OPENBLAS_CORETYPE $bin/sample "$work/sft" --messages "$work/messages.jsonl" --temperature 1 \
  --max-new-tokens "$new" --threads 2 --quiet -o "$work/replies.jsonl")
sample_tokens=$(jq '.ids | length' "$work/replies.jsonl" | awk '{s += $1} END {print s}')

run $bin/rlhf --policy "$work/sft" --reward "$work/rm" --prompts "$work/prompts.chat" --iterations "$iterations" \
  --batch-size "$batch" --minibatch "$minibatch" --ppo-epochs 2 --max-new-tokens "$new" --threads 2 \
  -o "$work/ppo" --log "$work/ppo.log" --quiet
# Medians over the iterations after the first.
field() { jq -r "select(.step > 1) | $1" "$work/ppo.log" | median; }
rollout=$(field .seconds.rollout) score=$(field .seconds.score) reference=$(field .seconds.reference)
old=$(field .seconds.old_logp_values) optimise=$(field .seconds.optimise) rate=$(field .rollout_tokens_per_s)
train_rate=$(field .train_tokens_per_s) length=$(field .response_length)
awk -v p="$preset T $T, $batch rollouts of up to $new tokens, minibatch $minibatch, 2 PPO epochs" \
    -v ro="$rollout" -v sc="$score" -v re="$reference" -v ol="$old" -v op="$optimise" -v rate="$rate" \
    -v tr="$train_rate" -v len="$length" -v st="$sample_tokens" -v ss="$sample_s" 'BEGIN{
  total = ro + sc + re + ol + op
  printf "%s: an iteration %.2f s = rollout %.2f (%.0f%%) + scores %.2f (%.0f%%) + reference %.2f (%.0f%%) + " \
         "policy log-probs and values %.2f (%.0f%%) + optimisation %.2f (%.0f%%)\n", p, total, ro, 100 * ro / total,
         sc, 100 * sc / total, re, 100 * re / total, ol, 100 * ol / total, op, 100 * op / total
  printf "rollouts %.0f tokens/s (responses of %.1f tokens); sample --messages on the same prompts %.0f tokens/s: " \
         "ratio %.2f; training %.0f positions/s\n", rate, len, st / ss, rate / (st / ss), tr
}'
