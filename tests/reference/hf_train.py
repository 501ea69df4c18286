#!/usr/bin/env python3
"""Train with HuggingFace tokenizers' trainers as tok-train's defaults describe, for the CLI tests:

  hf_train.py bpe CORPUS OUT_DIR VOCAB_SIZE         BpeTrainer, ByteLevel (no prefix space), all 256 bytes,
                                                    <|endoftext|>, min_frequency 2 -> vocab.json, merges.txt
  hf_train.py encode TOKENIZER_JSON TEXT            ids of each line of TEXT (no special tokens), a line each
  hf_train.py encode-bert VOCAB_TXT TEXT            the same with BertWordPieceTokenizer(vocab.txt)
"""
import os, sys

from tokenizers import BertWordPieceTokenizer, Tokenizer, models, pre_tokenizers, trainers


def lines(path):
    with open(path, "rb") as f:
        return [line.decode("utf-8", errors="replace") for line in f.read().split(b"\n")[:-1]]


def main():
    mode = sys.argv[1]
    if mode == "bpe":
        corpus, out, size = sys.argv[2], sys.argv[3], int(sys.argv[4])
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.train([corpus], trainers.BpeTrainer(vocab_size=size, min_frequency=2, show_progress=False,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                special_tokens=["<|endoftext|>"]))
        os.makedirs(out, exist_ok=True)
        tok.model.save(out)
        return
    tok = Tokenizer.from_file(sys.argv[2]) if mode == "encode" else BertWordPieceTokenizer(sys.argv[2])
    for text in lines(sys.argv[3]):
        print(" ".join(map(str, tok.encode(text, add_special_tokens=False).ids)))


if __name__ == "__main__":
    main()
