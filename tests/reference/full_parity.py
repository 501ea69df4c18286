#!/usr/bin/env python3
"""Parity of tok-encode with the reference tokenizers on whole files (the committed samples in
tests/data/tok are what CI checks; this checks everything, when ../shared/data is at hand):

  tests/reference/full_parity.py [FILE ...]     (default: every text file of ../shared/data)

For each file, every line: `tok-encode -v gpt2 --format ids` against tiktoken's gpt2 (lines that are
valid UTF-8) and `tok-encode -v bert-base-uncased --format ids` against HuggingFace's
BertWordPieceTokenizer. Prints the number of lines compared and mismatched per file and tokenizer;
exits 1 on any mismatch. Needs `pip install tiktoken tokenizers` and a build in build/.
"""
import os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference_ids import gpt2_encoders  # noqa: E402
from tokenizers import BertWordPieceTokenizer  # noqa: E402

DATA = os.path.join("..", "shared", "data")
FILES = ["tinyshakespeare/input.txt", "wikitext-2/wiki.valid.tokens", "wikitext-2/wiki.test.tokens",
         "bench/bench-corpus.txt", "unicode/messy.txt"]


def ours(vocab, path):
    out = subprocess.run(["build/cmd/tok-encode", "-v", vocab, "--format", "ids", path], check=True,
                         capture_output=True).stdout.decode()
    return [list(map(int, line.split())) for line in out.split("\n")[:-1]]


def main():
    paths = sys.argv[1:] or [os.path.join(DATA, f) for f in FILES]
    tik, _ = gpt2_encoders()
    bert = BertWordPieceTokenizer(os.path.join("share", "vocab", "bert-base-uncased", "vocab.txt"), lowercase=True)
    failed = False
    for path in paths:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        gpt2, wp = ours("gpt2", path), ours("bert-base-uncased", path)
        assert len(gpt2) == len(lines) == len(wp), path
        compared = bad_gpt2 = bad_bert = 0
        texts = [raw.decode("utf-8", errors="replace") for raw in lines]
        for ids, got in zip((e.ids for e in bert.encode_batch(texts, add_special_tokens=False)), wp):
            bad_bert += ids != got
        for raw, got in zip(lines, gpt2):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            compared += 1
            bad_gpt2 += tik.encode_ordinary(text) != got
        print(f"{path}: gpt2 {compared - bad_gpt2}/{compared} lines equal to tiktoken; "
              f"bert-base-uncased {len(lines) - bad_bert}/{len(lines)} equal to HuggingFace")
        failed |= bool(bad_gpt2 or bad_bert)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
