#!/usr/bin/env python3
"""Reference token ids for the tokenizer samples in tests/data/tok, from the anchors themselves:

  NAME.gpt2.ids               tiktoken's gpt2 encoding, checked equal to HuggingFace tokenizers' ByteLevel BPE
  NAME.bert-base-uncased.ids  HuggingFace tokenizers' BertWordPieceTokenizer (lowercase), its special
                              tokens' strings in text encoded as text (encode_special_tokens)

One line of space-separated ids per sample line, each line encoded without its newline and without
special tokens (what `tok-encode --format ids` prints). A line that is not valid UTF-8 has no GPT-2
reference (the anchors take str, not bytes) and gets "-"; BERT sees it decoded with errors="replace",
which is what its cleaning step then drops. Needs `pip install tiktoken tokenizers`; loads the
vocabularies from share/vocab, so nothing is downloaded. Run from the repository root:

  tests/reference/make_reference_ids.py [NAME.txt ...]
"""
import glob, os, sys

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tokenizers import BertWordPieceTokenizer, Tokenizer, models, pre_tokenizers

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
VOCAB = os.path.join("share", "vocab")


def gpt2_encoders():
    gpt2 = os.path.join(VOCAB, "gpt2")
    ranks = data_gym_to_mergeable_bpe_ranks(os.path.join(gpt2, "merges.txt"), os.path.join(gpt2, "vocab.json"))
    tik = tiktoken.Encoding("gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})
    hf = Tokenizer(models.BPE.from_file(os.path.join(gpt2, "vocab.json"), os.path.join(gpt2, "merges.txt")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return tik, hf


def main():
    samples = sys.argv[1:] or sorted(glob.glob(os.path.join("tests", "data", "tok", "*.txt")))
    tik, hf_bpe = gpt2_encoders()
    bert = BertWordPieceTokenizer(os.path.join(VOCAB, "bert-base-uncased", "vocab.txt"), lowercase=True)
    bert._tokenizer.encode_special_tokens = True  # "[SEP]" in text is text, as in tok-encode by default
    for path in samples:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")[:-1]
        gpt2_out, bert_out, disagreements = [], [], 0
        for raw in lines:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is None:
                gpt2_out.append("-")
            else:
                ids = tik.encode_ordinary(text)
                if hf_bpe.encode(text, add_special_tokens=False).ids != ids:
                    disagreements += 1
                gpt2_out.append(" ".join(map(str, ids)))
            bert_text = raw.decode("utf-8", errors="replace")
            bert_out.append(" ".join(map(str, bert.encode(bert_text, add_special_tokens=False).ids)))
        stem = path[:-len(".txt")]
        for suffix, out in ((".gpt2.ids", gpt2_out), (".bert-base-uncased.ids", bert_out)):
            with open(stem + suffix, "w") as f:
                f.write("".join(line + "\n" for line in out))
        print(f"{path}: {len(lines)} lines; tiktoken and HF ByteLevel BPE disagree on {disagreements}", file=sys.stderr)


if __name__ == "__main__":
    main()
