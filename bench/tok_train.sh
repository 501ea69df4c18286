#!/usr/bin/env bash
# Training speed and memory against HuggingFace tokenizers' trainers, in one run: BPE 32k and WordPiece
# 30,522 on the benchmark corpus, both sides on one thread (RAYON_NUM_THREADS=1), then tok-train on two
# threads, and on a corpus three times as large (cost linear in corpus size). Target (issue 3): >= 3x
# HuggingFace at the same threads, with less peak memory. Run on an otherwise idle machine.
#   bench/tok_train.sh [CORPUS]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/bench/bench-corpus.txt}
[ -x build/cmd/tok-train ] || .ci/setup
python3 -c 'import tokenizers' 2> /dev/null || pip install -q tokenizers
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat "$corpus" "$corpus" "$corpus" > "$work/triple.txt"

measure() {  # prints "SECONDS PEAK_KB" of a command
  /usr/bin/time -o "$work/time" -f "%e %M" "$@" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  cat "$work/time"
}
hf() {  # MODEL CORPUS SIZE
  cat > "$work/hf.py" <<'PY'
import sys
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
model, corpus, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
if model == "bpe":
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tr = trainers.BpeTrainer(vocab_size=size, min_frequency=2, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|endoftext|>"])
else:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tr = trainers.WordPieceTrainer(vocab_size=size, min_frequency=2, limit_alphabet=1000, show_progress=False,
                                   special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
tok.train([corpus], tr)
PY
  RAYON_NUM_THREADS=${THREADS:-1} measure python3 "$work/hf.py" "$@"
}
line() {  # NAME "S KB" "HF_S HF_KB"
  awk -v n="$1" -v s="${2% *}" -v kb="${2#* }" -v hs="${3% *}" -v hkb="${3#* }" 'BEGIN{
    printf "%-40s %7.2f s %6d MiB   HF %7.2f s %6d MiB   speed ratio %5.2fx (target 3x: %s)  memory %.2fx\n",
      n, s, kb / 1024, hs, hkb / 1024, hs / s, ((hs / s >= 3) ? "met" : "MISSED"), kb / hkb}'
}

echo "corpus: $corpus ($(stat -c %s "$corpus") bytes)"
for spec in "bpe 32000" "wordpiece 30522"; do
  set -- $spec
  hf1=$(hf "$1" "$corpus" "$2")
  line "tok-train --model $1 $2 --threads 1" "$(measure build/cmd/tok-train --model "$1" --vocab-size "$2" --threads 1 -o "$work/$1" "$corpus")" "$hf1"
  hf2=$(THREADS=2 hf "$1" "$corpus" "$2")
  line "tok-train --model $1 $2 --threads 2" "$(measure build/cmd/tok-train --model "$1" --vocab-size "$2" --threads 2 -o "$work/$1" "$corpus")" "$hf2"
done
echo "three times the corpus, --model bpe 32000, one thread (linear cost: about 3x the time above):"
hf3=$(hf bpe "$work/triple.txt" 32000)
line "tok-train --model bpe 32000 (x3 corpus)" "$(measure build/cmd/tok-train --model bpe --vocab-size 32000 --threads 1 -o "$work/x3" "$work/triple.txt")" "$hf3"
