#!/usr/bin/env bash
# Preference training's speed (issue 22): a DPO step against an SFT step on the same records (issue target:
# DPO <= 2.2x SFT: two sequences a pair and the reference's forward pass), with the reference's pass in
# every step and once before training (--precompute-ref, on the first BATCH x STEPS pairs: the pass covers
# the whole data), and a reward-model step beside them. The records: consecutive paragraphs of the
# benchmark corpus as prompt, chosen and rejected reply; SFT trains on prompt + chosen as a conversation
# (one a record, as DPO's). Median step time of steps 2..N.
#   bench/preference.sh [CORPUS]     (T=256 BATCH=8 STEPS=8 PRESET=gpt-baby by default)
# OPENBLAS_CORETYPE is unset for pretrain's commands here (it slows OpenBLAS on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/bench/bench-corpus.txt}
bin=${BUILD:-build}/cmd
[ -x "$bin/make-prefs" ] || .ci/setup
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/lib.sh
export OMP_WAIT_POLICY=PASSIVE
T=${T:-256} batch=${BATCH:-8} steps=${STEPS:-8} preset=${PRESET:-gpt-baby}

$bin/tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' --quiet -o "$work/chatml"
python3 - "$corpus" "$work/pairs.jsonl" "$work/chats.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    paragraphs = [p.strip()[:600] for p in f.read().split("\n\n") if p.strip()][:6000]
with open(sys.argv[2], "w", encoding="utf-8") as pairs, open(sys.argv[3], "w", encoding="utf-8") as chats:
    for i in range(0, len(paragraphs) - 2, 3):
        prompt, chosen, rejected = paragraphs[i:i + 3]
        if chosen == rejected:
            continue
        pairs.write(json.dumps({"prompt": prompt, "chosen": chosen, "rejected": rejected}) + "\n")
        chats.write(json.dumps({"messages": [{"role": "user", "content": prompt},
                                             {"role": "assistant", "content": chosen}]}) + "\n")
PY
$bin/make-prefs -v "$work/chatml" --max-len "$T" --group 1 --quiet "$work/pairs.jsonl" -o "$work/train.prefs"
$bin/make-chat -v "$work/chatml" --max-len "$((T + 1))" --quiet "$work/chats.jsonl" -o "$work/train.chat"
head -n "$((batch * steps))" "$work/pairs.jsonl" > "$work/first.jsonl"
$bin/make-prefs -v "$work/chatml" --max-len "$T" --group 1 --quiet "$work/first.jsonl" -o "$work/first.prefs"
run() {  # NAME FLAGS...: trains, prints the median seconds between consecutive steps from step 2 on
  local name=$1
  shift
  env -u OPENBLAS_CORETYPE $bin/pretrain --arch gpt "$@" --batch-size "$batch" --steps "$steps" --threads 2 \
    --save-every 0 -o "$work/$name" --log "$work/$name.log" --quiet > /dev/null
  jq -r 'select(.elapsed_s != null) | .elapsed_s' "$work/$name.log" | awk 'NR > 1 {print $1 - prev} {prev = $1}' | median
}
env -u OPENBLAS_CORETYPE $bin/pretrain --preset "$preset" --max-len "$T" --vocab-size 50259 --data "$work/train.chat" \
  --batch-size 2 --steps 1 --threads 2 -o "$work/base" --quiet
sft=$(run sft --init-from "$work/base" --data "$work/train.chat")
dpo=$(run dpo --objective dpo --init-from "$work/base" --data "$work/train.prefs")
# With --precompute-ref the reference's pass happens once, before the first step: its time is printed apart.
dpo_pre=$(run dpo-pre --objective dpo --init-from "$work/base" --data "$work/first.prefs" --precompute-ref)
pairs=$(jq -s 'length' "$work/first.jsonl")
reference_s=$(env -u OPENBLAS_CORETYPE $bin/pretrain --arch gpt --objective dpo --init-from "$work/base" \
  --data "$work/first.prefs" --precompute-ref --batch-size "$batch" --steps 1 --threads 2 --save-every 0 \
  -o "$work/dpo-pass" 2>&1 >/dev/null | sed -n 's/.*log-probabilities of [0-9]* pairs in \([0-9.]*\) s/\1/p')
reward=$(run reward --objective reward --init-from "$work/base" --data "$work/train.prefs")
awk -v p="$preset batch $batch T $T" -v s="$sft" -v d="$dpo" -v dp="$dpo_pre" -v r="$reward" -v pairs="$pairs" \
    -v ref="$reference_s" 'BEGIN{
  printf "%s: SFT step %.3f s; DPO step %.3f s (%.2fx SFT), with --precompute-ref %.3f s (%.2fx SFT; target <= 2.2: %s) " \
         "after a reference pass of %.1f s over %d pairs (%.1f ms a pair); reward-model step %.3f s (%.2fx SFT)\n",
    p, s, d, d / s, dp, dp / s, (dp / s <= 2.2) ? "met" : "MISSED", ref, pairs, 1000 * ref / pairs, r, r / s}'
