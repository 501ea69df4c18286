#!/usr/bin/env bash
# The chat path's speed (issue 21):
# 1. make-chat on one core beside tok-encode on one core, over the same text: conversations of the benchmark
#    corpus (consecutive paragraphs as user and assistant turns) against the corpus itself. Target: make-chat
#    >= 20 M tokens/s of output, and the template work no bottleneck (its rate near tok-encode's). Best of 3.
# 2. A supervised fine-tuning step against a pretraining step of the same shape (the same model, micro-batch
#    and sequence length: chat records packed full against windows): median step time of steps 2..N.
#    Target: SFT within 5% of pretraining.
#   bench/chat.sh [CORPUS]
# OPENBLAS_CORETYPE is unset for pretrain's commands here (it slows OpenBLAS on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/bench/bench-corpus.txt}
bin=${BUILD:-build}/cmd  # BUILD: another build directory
[ -x "$bin/make-chat" ] || .ci/setup
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/lib.sh
export OMP_WAIT_POLICY=PASSIVE

$bin/tok-train --extend gpt2 --add-special '<|im_start|>' --add-special '<|im_end|>' --quiet -o "$work/chatml"
# Paragraphs (runs of non-blank lines) in pairs: user, assistant.
python3 - "$corpus" "$work/chats.jsonl" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    paragraphs = [p.strip() for p in f.read().split("\n\n") if p.strip()]
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for i in range(0, len(paragraphs) - 1, 2):
        out.write(json.dumps({"messages": [{"role": "user", "content": paragraphs[i]},
                                           {"role": "assistant", "content": paragraphs[i + 1]}]}) + "\n")
EOF

tokens_of() { $bin/shard-cat --stats "$1" | jq .tokens; }

$bin/make-chat -v "$work/chatml" --max-len 1000000 --threads 1 --quiet "$work/chats.jsonl" -o "$work/chats.shard"
$bin/tok-encode -v gpt2 --threads 1 --quiet "$corpus" -o "$work/corpus.shard"
chat_tokens=$(tokens_of "$work/chats.shard")
text_tokens=$(tokens_of "$work/corpus.shard")
chat_s=$(best taskset -c 0 $bin/make-chat -v "$work/chatml" --max-len 1000000 --threads 1 --quiet "$work/chats.jsonl" -o "$work/out.shard")
text_s=$(best taskset -c 0 $bin/tok-encode -v gpt2 --threads 1 --quiet "$corpus" -o "$work/out.shard")
awk -v ct="$chat_tokens" -v cs="$chat_s" -v tt="$text_tokens" -v ts="$text_s" 'BEGIN{
  c = ct / cs / 1e6; t = tt / ts / 1e6;
  printf "make-chat, one core:  %6.2f M tokens/s (%d tokens, %.2f s)  %.2fx of 20 M/s: %s\n", c, ct, cs, c / 20, (c >= 20) ? "met" : "MISSED";
  printf "tok-encode, one core: %6.2f M tokens/s (%d tokens, %.2f s)  make-chat / tok-encode %.2f\n", t, tt, ts, c / t}'

# --- an SFT step against a pretraining step of the same shape ---------------------------------------------------------
T=${T:-512}
steps=${STEPS:-8}
$bin/make-chat -v "$work/chatml" --max-len $((T + 1)) --pack --threads 2 --quiet "$work/chats.jsonl" -o "$work/train.chat"
$bin/tok-encode -v "$work/chatml" --quiet "$corpus" | $bin/make-pairs --task causal --max-len "$T" --quiet -o "$work/train.windows"
step_seconds() {  # LOG: median seconds between consecutive steps from step 2 on
  jq -r 'select(.elapsed_s != null) | .elapsed_s' "$1" |
    awk 'NR > 1 {print $1 - prev} {prev = $1}' | median
}
for shape in "gpt-baby --batch-size 16" "gpt2 --batch-size 2"; do
  read -r preset batch <<< "$shape"
  for kind in windows chat; do
    rm -rf "$work/run" "$work/log"
    env -u OPENBLAS_CORETYPE $bin/pretrain --preset "$preset" --max-len "$T" --vocab-size 50259 --data "$work/train.$kind" \
      $batch --steps "$steps" --threads 2 --save-every 0 -o "$work/run" --log "$work/log" --quiet > /dev/null
    declare "s_$kind=$(step_seconds "$work/log")"
  done
  awk -v p="$preset $batch T $T" -v w="$s_windows" -v c="$s_chat" 'BEGIN{
    printf "%-30s pretraining step %.3f s, SFT step %.3f s: SFT / pretraining %.3f (target <= 1.05: %s)\n",
      p, w, c, c / w, (c / w <= 1.05) ? "met" : "MISSED"}'
done
