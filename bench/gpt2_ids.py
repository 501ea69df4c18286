#!/usr/bin/env python3
"""Write the GPT-2 token ids of a text file as raw little-endian u16, for bench/shard-bench.

  gpt2_ids.py TEXT OUT.u16 [VOCAB_DIR]

Uses tiktoken (PyPI) built from the vocabulary shipped in share/vocab/gpt2, so nothing is downloaded.
"""
import array, os, sys

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def main():
    text_path, out_path = sys.argv[1], sys.argv[2]
    vocab = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "share", "vocab", "gpt2")
    ranks = data_gym_to_mergeable_bpe_ranks(os.path.join(vocab, "merges.txt"), os.path.join(vocab, "vocab.json"))
    enc = tiktoken.Encoding("gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})
    with open(text_path, encoding="utf-8", errors="replace") as f:
        ids = enc.encode_ordinary(f.read())
    with open(out_path + ".tmp", "wb") as f:
        array.array("H", ids).tofile(f)
    os.replace(out_path + ".tmp", out_path)
    print(f"{len(ids)} ids -> {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
