#!/usr/bin/python3
"""PyTorch reference values for the C++ GPT (tests/unit/gpt_reference_test.cpp), from a few dozen lines
of plain PyTorch written with HuggingFace's tensor names and layouts (Conv1D weights are [in, out]).
Run with Debian's python3-torch (`/usr/bin/python3`); writes tests/data/nn/{gpt2,gpt1}_tiny.safetensors:

  the weights, input_ids and targets (-1: no target), logits, loss, every gradient ("grad." + name),
  and the losses before each of 3 AdamW steps and after the last ("adamw_losses"), with the settings
  in the metadata. fp32 throughout; dropout 0.
"""
import json, math, os, sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.use_deterministic_algorithms(True)


def conv1d(x, w, b):
    return x @ w + b


def layer_norm(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps=1e-5)


def gpt(p, cfg, idx):
    wte = p["transformer.wte.weight" if cfg["arch"] == "gpt2" else "transformer.tokens_embed.weight"]
    return hidden(p, cfg, idx) @ wte.t()


def hidden(p, cfg, idx):
    """The LM head's input: the final layer norm's output (GPT-2), the last block's (GPT)."""
    B, T = idx.shape
    C, H, L, gpt2 = cfg["d_model"], cfg["n_head"], cfg["n_layer"], cfg["arch"] == "gpt2"
    wte = p["transformer.wte.weight" if gpt2 else "transformer.tokens_embed.weight"]
    wpe = p["transformer.wpe.weight" if gpt2 else "transformer.positions_embed.weight"]
    x = wte[idx] + wpe[:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        h = lambda n: p[f"transformer.h.{l}.{n}"]
        def attention(z):
            q, k, v = conv1d(z, h("attn.c_attn.weight"), h("attn.c_attn.bias")).split(C, 2)
            q, k, v = [t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v)]
            att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            return conv1d(y, h("attn.c_proj.weight"), h("attn.c_proj.bias"))
        def mlp(z):
            z = F.gelu(conv1d(z, h("mlp.c_fc.weight"), h("mlp.c_fc.bias")), approximate="tanh")
            return conv1d(z, h("mlp.c_proj.weight"), h("mlp.c_proj.bias"))
        if gpt2:
            x = x + attention(layer_norm(x, h("ln_1.weight"), h("ln_1.bias")))
            x = x + mlp(layer_norm(x, h("ln_2.weight"), h("ln_2.bias")))
        else:
            x = layer_norm(x + attention(x), h("ln_1.weight"), h("ln_1.bias"))
            x = layer_norm(x + mlp(x), h("ln_2.weight"), h("ln_2.bias"))
    if gpt2:
        x = layer_norm(x, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"])
    return x


def parameters(cfg):
    V, T, C, Fd, L, gpt2 = cfg["vocab_size"], cfg["max_len"], cfg["d_model"], cfg["d_ff"], cfg["n_layer"], cfg["arch"] == "gpt2"
    shapes = [("transformer.wte.weight" if gpt2 else "transformer.tokens_embed.weight", (V, C)),
              ("transformer.wpe.weight" if gpt2 else "transformer.positions_embed.weight", (T, C))]
    for l in range(L):
        n = f"transformer.h.{l}."
        for name, shape in [("ln_1.weight", (C,)), ("ln_1.bias", (C,)), ("attn.c_attn.weight", (C, 3 * C)),
                            ("attn.c_attn.bias", (3 * C,)), ("attn.c_proj.weight", (C, C)), ("attn.c_proj.bias", (C,)),
                            ("ln_2.weight", (C,)), ("ln_2.bias", (C,)), ("mlp.c_fc.weight", (C, Fd)),
                            ("mlp.c_fc.bias", (Fd,)), ("mlp.c_proj.weight", (Fd, C)), ("mlp.c_proj.bias", (C,))]:
            shapes.append((n + name, shape))
    if gpt2:
        shapes += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,))]
    p = {}
    for name, shape in shapes:
        t = torch.randn(shape) * 0.1
        if ".ln_" in name:
            t = (1.0 if name.endswith("weight") else 0.0) + torch.randn(shape) * 0.1
        p[name] = t.requires_grad_()
    return p


def write(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "nn")
    for arch in ("gpt2", "gpt1"):
        cfg = dict(arch=arch, vocab_size=64, max_len=16, n_layer=2, n_head=4, d_model=32, d_ff=128)
        p = parameters(cfg)
        B, T = 2, 16
        idx = torch.randint(0, cfg["vocab_size"], (B, T))
        targets = torch.randint(0, cfg["vocab_size"], (B, T))
        targets[1, 3] = -1
        logits = gpt(p, cfg, idx)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        loss.backward()
        # Copies: the optimizer below changes the weights and gradients in place.
        tensors = {name: t.detach().clone() for name, t in p.items()}
        tensors.update({"input_ids": idx, "targets": targets, "logits": logits.detach().clone(),
                        "loss": loss.detach().double().reshape(1)})
        tensors.update({"grad." + name: t.grad.detach().clone() for name, t in p.items()})
        # Three AdamW steps: weight decay on the matrices that are not embeddings (lmpipe's default).
        opt_cfg = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
        decay = [t for n, t in p.items() if t.dim() == 2 and "wte" not in n and "wpe" not in n and "_embed" not in n]
        rest = [t for n, t in p.items() if not any(t is d for d in decay)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": opt_cfg["weight_decay"]},
                                 {"params": rest, "weight_decay": 0.0}],
                                lr=opt_cfg["lr"], betas=opt_cfg["betas"], eps=opt_cfg["eps"])
        losses = []
        for _ in range(3):
            opt.zero_grad()
            logits = gpt(p, cfg, idx)
            l = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            losses.append(l.item())
            l.backward()
            opt.step()
        with torch.no_grad():
            logits = gpt(p, cfg, idx)
            losses.append(F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1).item())
        tensors["adamw_losses"] = torch.tensor(losses, dtype=torch.float64)
        metadata = {k: str(v) for k, v in cfg.items()}
        metadata.update({"lr": str(opt_cfg["lr"]), "beta1": "0.9", "beta2": "0.95", "eps": "1e-08",
                         "weight_decay": str(opt_cfg["weight_decay"]), "torch": torch.__version__})
        path = os.path.join(out_dir, f"{arch}_tiny.safetensors")
        write(path, tensors, metadata)
        print(f"{path}: loss {loss.item():.6f}, AdamW losses {losses}", file=sys.stderr)


if __name__ == "__main__":
    main()
