#!/usr/bin/env python3
"""Cut the tokenizer test samples from ../shared/data: every k-th line of each text file (at most about
1,500 lines or 80 KB each), and all of messy.txt. Lines keep their bytes exactly (CR, NUL, invalid UTF-8); a line's
newline is not part of it. Run from the repository root:

  tests/reference/make_samples.py [SHARED_DATA]

Writes tests/data/tok/NAME.txt; tests/reference/make_reference_ids.py then writes the reference ids.
"""
import os, sys

FILES = {
    "tinyshakespeare": "tinyshakespeare/input.txt",
    "wikitext2-valid": "wikitext-2/wiki.valid.tokens",
    "wikitext2-test": "wikitext-2/wiki.test.tokens",
    "bench-corpus": "bench/bench-corpus.txt",
    "messy": "unicode/messy.txt",
}
TARGET_LINES = 1500
TARGET_BYTES = 80_000


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "data")
    out_dir = os.path.join("tests", "data", "tok")
    os.makedirs(out_dir, exist_ok=True)
    for name, rel in FILES.items():
        with open(os.path.join(data, rel), "rb") as f:
            lines = f.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        size = sum(len(line) + 1 for line in lines)
        step = 1 if name == "messy" else max(1, len(lines) // TARGET_LINES, size // TARGET_BYTES)
        sample = lines[::step]
        with open(os.path.join(out_dir, name + ".txt"), "wb") as f:
            f.write(b"".join(line + b"\n" for line in sample))
        print(f"{name}: {len(sample)} of {len(lines)} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
