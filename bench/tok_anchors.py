#!/usr/bin/env python3
"""Anchor timings for tokenizer encoding, on the vocabularies shipped in share/vocab (nothing downloaded):

  tok_anchors.py tiktoken CORPUS [--threads N]   tiktoken gpt2 (Rust): one encode_ordinary call over the
                                                 whole text with --threads 1, else encode_ordinary_batch
  tok_anchors.py hf-bpe CORPUS                   HuggingFace tokenizers ByteLevel BPE (gpt2 files)
  tok_anchors.py hf-bert CORPUS                  HuggingFace tokenizers BertWordPieceTokenizer (bert-base-uncased)

HF runs encode_batch on ~4 KB chunks cut at line ends (RAYON_NUM_THREADS sets its threads). Loading the
tokenizer is not timed. Prints one line: RESULT NAME seconds=S MB_per_s=R ids=N.
"""
import argparse, os, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "..", "share", "vocab")
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def chunks(text, size=4096):
    out, i = [], 0
    while i < len(text):
        j = min(len(text), i + size)
        if j < len(text):
            k = text.rfind("\n", i, j)
            j = k + 1 if k > i else j
        out.append(text[i:j])
        i = j
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("anchor", choices=["tiktoken", "hf-bpe", "hf-bert"])
    p.add_argument("corpus")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    with open(a.corpus, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if a.anchor == "tiktoken":
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks
        gpt2 = os.path.join(VOCAB, "gpt2")
        ranks = data_gym_to_mergeable_bpe_ranks(os.path.join(gpt2, "merges.txt"), os.path.join(gpt2, "vocab.json"))
        enc = tiktoken.Encoding("gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
        t0 = time.perf_counter()
        if a.threads == 1:
            n = len(enc.encode_ordinary(text))
        else:
            n = sum(len(x) for x in enc.encode_ordinary_batch(chunks(text, 1 << 20), num_threads=a.threads))
    else:
        from tokenizers import BertWordPieceTokenizer, Tokenizer, models, pre_tokenizers
        if a.anchor == "hf-bpe":
            gpt2 = os.path.join(VOCAB, "gpt2")
            tok = Tokenizer(models.BPE.from_file(os.path.join(gpt2, "vocab.json"), os.path.join(gpt2, "merges.txt")))
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        else:
            tok = BertWordPieceTokenizer(os.path.join(VOCAB, "bert-base-uncased", "vocab.txt"), lowercase=True)
        cs = chunks(text)
        t0 = time.perf_counter()
        n = 0
        for i in range(0, len(cs), 1024):
            n += sum(len(e.ids) for e in tok.encode_batch(cs[i:i + 1024], add_special_tokens=False))
    s = time.perf_counter() - t0
    print(f"RESULT {a.anchor} seconds={s:.3f} MB_per_s={os.path.getsize(a.corpus) / 1e6 / s:.2f} ids={n}")


if __name__ == "__main__":
    main()
