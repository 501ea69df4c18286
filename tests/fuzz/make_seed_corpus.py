#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets into tests/fuzz/seeds/TARGET/ (the shard reader's
seeds are made at test time by make-seeds.sh). Each seed is in its target's input form: a mode byte, then
the file, or two files in fuzz_input.h's form (a 4-byte little-endian length, the first file, the second).
Needs `pip install tokenizers` (for the tokenizer.json seeds) and a build (build/cmd/tok-encode, for the
shard seeds). Run from the repository root:

  tests/fuzz/make_seed_corpus.py
"""
import json, os, shutil, struct, subprocess

SEEDS = os.path.join("tests", "fuzz", "seeds")
DATA = os.path.join("tests", "data", "tok")


def write(target, name, mode, *files):
    body = files[0] if len(files) == 1 else struct.pack("<I", len(files[0])) + files[0] + files[1]
    with open(os.path.join(SEEDS, target, name), "wb") as f:
        f.write(bytes([mode]) + body)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> the file's bytes."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def floats(n, start=0.0):
    return struct.pack(f"<{n}f", *[start + 0.01 * i for i in range(n)])


def tiny_gpt2(vocab=5, positions=4, width=4, inner=8, layers=1):
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": vocab,
              "n_positions": positions, "n_ctx": positions, "n_embd": width, "n_layer": layers, "n_head": 2,
              "n_inner": inner, "activation_function": "gelu_new", "resid_pdrop": 0.0, "embd_pdrop": 0.0,
              "attn_pdrop": 0.0, "layer_norm_epsilon": 1e-05, "tie_word_embeddings": True}
    shapes = [("transformer.wte.weight", [vocab, width]), ("transformer.wpe.weight", [positions, width])]
    for i in range(layers):
        p = f"transformer.h.{i}."
        shapes += [(p + "ln_1.weight", [width]), (p + "ln_1.bias", [width]),
                   (p + "attn.c_attn.weight", [width, 3 * width]), (p + "attn.c_attn.bias", [3 * width]),
                   (p + "attn.c_proj.weight", [width, width]), (p + "attn.c_proj.bias", [width]),
                   (p + "ln_2.weight", [width]), (p + "ln_2.bias", [width]),
                   (p + "mlp.c_fc.weight", [width, inner]), (p + "mlp.c_fc.bias", [inner]),
                   (p + "mlp.c_proj.weight", [inner, width]), (p + "mlp.c_proj.bias", [width])]
    shapes += [("transformer.ln_f.weight", [width]), ("transformer.ln_f.bias", [width])]
    tensors = []
    for name, shape in shapes:
        n = 1
        for d in shape:
            n *= d
        tensors.append((name, "F32", shape, floats(n)))
    return json.dumps(config, indent=2).encode(), safetensors(tensors, {"format": "pt"})


def byte_symbols():
    """GPT-2's bytes-to-unicode alphabet, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, extra = {}, 0
    for b in range(256):
        if b in printable:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def tiny_bpe():
    tokens = byte_symbols() + ["\u0120t", "he", "\u0120the", "in", "ing"]
    merges = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("i", "n"), ("in", "g")]
    vocab = {t: i for i, t in enumerate(tokens)}
    vocab["<|endoftext|>"] = len(vocab)
    merges_txt = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    return vocab, merges, json.dumps(vocab, ensure_ascii=False).encode(), merges_txt.encode()


def tiny_wordpiece():
    with open(os.path.join("share", "vocab", "bert-base-uncased", "vocab.txt"), encoding="utf-8") as f:
        tokens = f.read().split("\n")[:110]
    tokens += ["hello", "world", ",", "!", "caf", "##e", "##ing", "the", "[", "]", "sep", "##s"]
    return tokens, "".join(t + "\n" for t in tokens).encode()


def tokenizer_jsons(bpe, wordpiece):
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab, merges, _, _ = bpe
    t = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.add_special_tokens(["<|endoftext|>"])
    bpe_json = t.to_str().encode()
    tokens, _ = wordpiece
    w = Tokenizer(models.WordPiece(vocab={tok: i for i, tok in enumerate(tokens)}, unk_token="[UNK]"))
    w.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    return bpe_json, w.to_str().encode()


def main():
    for target in ("model-dir", "vocab", "tokenize", "chat"):
        shutil.rmtree(os.path.join(SEEDS, target), ignore_errors=True)
        os.makedirs(os.path.join(SEEDS, target))

    config, weights = tiny_gpt2()
    write("model-dir", "gpt2-safetensors", 0, weights)
    write("model-dir", "gpt2-dir", 1, config, weights)
    mixed = safetensors([("a", "F16", [2, 2], b"\x00\x3c" * 4), ("b", "BF16", [3], b"\x80\x3f" * 3),
                         ("c", "I64", [2], struct.pack("<2q", 1, 7)), ("d", "F64", [1], struct.pack("<d", 0.5)),
                         ("e", "I32", [0], b"")])
    write("model-dir", "dtypes-safetensors", 0, mixed)

    bpe, wordpiece = tiny_bpe(), tiny_wordpiece()
    bpe_json, wordpiece_json = tokenizer_jsons(bpe, wordpiece)
    for special in (0, 4):
        write("vocab", f"bpe-{special}", 0 | special, bpe[2], bpe[3])
        write("vocab", f"wordpiece-{special}", 1 | special, wordpiece[1])
        write("vocab", f"tokenizer-json-bpe-{special}", 2 | special, bpe_json)
        write("vocab", f"tokenizer-json-wordpiece-{special}", 2 | special, wordpiece_json)

    with open(os.path.join(DATA, "messy.txt"), "rb") as f:
        messy = f.read().split(b"\n")
    with open(os.path.join(DATA, "tinyshakespeare.txt"), "rb") as f:
        shakespeare = f.read()[:1500]
    texts = {"messy-a": b"\n".join(messy[:25]), "messy-b": b"\n".join(messy[25:50]),
             "messy-c": b"\n".join(messy[50:]), "shakespeare": shakespeare}
    for name, text in texts.items():
        for mode in (0, 1 | 0 << 2, 1 | 1 << 2, 1 | 2 << 2, 1 | 4 << 2, 2 | 0 << 2, 2 | 3 << 2, 2 | 4 << 2):
            write("tokenize", f"{name}-{mode}", mode, text[:4000])
    lines = "".join(json.dumps({"text": line.decode("utf-8", "replace")}) + "\n" for line in messy[:20]).encode()
    write("tokenize", "jsonl-gpt2", 2 | 4 << 2, lines)
    write("tokenize", "jsonl-bert", 2 | (4 | 8) << 2, lines)
    write("tokenize", "docs-bert", 2 | (6 | 8) << 2, b"First sentence.\nSecond one.\n\nThird.\n")
    write("tokenize", "ids-gpt2", 3, b"15496 995\n50256\n\n464 2068\n")
    write("tokenize", "ids-bert", 3 | 8 << 2, b"101 7592 102\n100\n")
    for name, args, mode in (("shard-gpt2", ["-v", "gpt2"], 3), ("shard-gpt2-lines", ["-v", "gpt2", "--lines"], 3),
                             ("shard-bert-docs", ["-v", "bert-base-uncased", "--docs"], 3 | 8 << 2)):
        shard = subprocess.run([os.path.join("build", "cmd", "tok-encode"), *args, "-q"], input=shakespeare[:600],
                               capture_output=True, check=True).stdout
        write("tokenize", name, mode, shard)

    chats = os.path.join("tests", "data", "chat", "conversations.jsonl")
    with open(chats, "rb") as f:
        conversations = f.read()
    alpaca = (b'{"instruction": "Add.", "input": "2 and 3", "output": "5"}\n'
              b'{"instruction": "Say hi.", "output": "hi"}\n{"instruction": "x", "input": null, "output": ""}\n')
    for mode in (0, 4, 2 | 10 << 3, 4 | 3 << 3):
        write("chat", f"messages-{mode}", mode, conversations)
    write("chat", "alpaca", 1, alpaca)
    write("chat", "alpaca-packed", 1 | 2 | 8 << 3, alpaca)


if __name__ == "__main__":
    main()
