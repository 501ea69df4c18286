#!/usr/bin/python3
"""PyTorch reference values for supervised fine-tuning on chat records (tests/unit/sft_reference_test.cpp):
a tiny GPT-2's masked next-token loss and gradients on three chat records, one of them two conversations
packed together. Written from the definitions, not from lmpipe's code: a record's ids but the last are
inputs; an input's target is the next id when that id is in the same conversation and its loss mask is 1
(else -1, no loss); each conversation of a packed record starts at position 0 and attends only to itself
(a block-diagonal causal mask); shorter records are padded. The loss is the mean cross-entropy over the
targets of the whole batch. Run with Debian's python3-torch (`/usr/bin/python3`); writes
tests/data/nn/gpt2_sft_tiny.safetensors: the weights, the records (ids, loss_mask, conversation_lens,
record_lens, concatenated), the rows (input_ids, targets, positions), loss and every gradient.
"""
import os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt_reference import conv1d, layer_norm, parameters, write  # noqa: E402

torch.manual_seed(4321)
torch.use_deterministic_algorithms(True)


def gpt2_packed(p, cfg, idx, pos, allowed):
    """GPT-2 with explicit positions and an attention mask allowed[B, T, T] (query, key)."""
    B, T = idx.shape
    C, H, L = cfg["d_model"], cfg["n_head"], cfg["n_layer"]
    x = p["transformer.wte.weight"][idx] + p["transformer.wpe.weight"][pos]
    for l in range(L):
        h = lambda n: p[f"transformer.h.{l}.{n}"]
        z = layer_norm(x, h("ln_1.weight"), h("ln_1.bias"))
        q, k, v = conv1d(z, h("attn.c_attn.weight"), h("attn.c_attn.bias")).split(C, 2)
        q, k, v = [t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) / (C // H) ** 0.5
        att = att.masked_fill(~allowed[:, None], float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + conv1d(y, h("attn.c_proj.weight"), h("attn.c_proj.bias"))
        z = layer_norm(x, h("ln_2.weight"), h("ln_2.bias"))
        z = F.gelu(conv1d(z, h("mlp.c_fc.weight"), h("mlp.c_fc.bias")), approximate="tanh")
        x = x + conv1d(z, h("mlp.c_proj.weight"), h("mlp.c_proj.bias"))
    x = layer_norm(x, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"])
    return x @ p["transformer.wte.weight"].t()


def rows(records):
    """Inputs, targets, positions and the attention mask of the records, padded to the longest."""
    T = max(len(r["ids"]) - 1 for r in records)
    B = len(records)
    idx = torch.zeros(B, T, dtype=torch.int64)
    targets = torch.full((B, T), -1, dtype=torch.int64)
    pos = torch.zeros(B, T, dtype=torch.int64)
    segment = torch.full((B, T), -1, dtype=torch.int64)
    for b, r in enumerate(records):
        start = 0
        for c, n in enumerate(r["conversation_lens"]):
            for i in range(n):
                t = start + i
                if t >= len(r["ids"]) - 1:
                    break
                idx[b, t], pos[b, t], segment[b, t] = r["ids"][t], i, c
                if i + 1 < n and r["loss_mask"][t + 1]:
                    targets[b, t] = r["ids"][t + 1]
            start += n
        used = len(r["ids"]) - 1
        for i, t in enumerate(range(used, T)):  # padding: a sequence of its own
            pos[b, t], segment[b, t] = i, len(r["conversation_lens"])
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = (segment[:, :, None] == segment[:, None, :]) & causal
    return idx, targets, pos, allowed


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "nn")
    cfg = dict(arch="gpt2", vocab_size=64, max_len=16, n_layer=2, n_head=4, d_model=32, d_ff=128)
    p = parameters(cfg)
    V = cfg["vocab_size"]

    def record(lens):
        n = sum(lens)
        mask = (torch.rand(n) < 0.5).long().tolist()
        return {"ids": torch.randint(0, V, (n,)).tolist(), "loss_mask": mask, "conversation_lens": lens}

    records = [record([6, 7]), record([9]), record([16])]
    idx, targets, pos, allowed = rows(records)
    logits = gpt2_packed(p, cfg, idx, pos, allowed)
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
    loss.backward()

    # Packing changes nothing: the second conversation of record 0 alone gives the same logits.
    with torch.no_grad():
        alone = {"ids": records[0]["ids"][6:], "loss_mask": records[0]["loss_mask"][6:], "conversation_lens": [7]}
        a_idx, _, a_pos, a_allowed = rows([alone])
        a_logits = gpt2_packed(p, cfg, a_idx, a_pos, a_allowed)
        assert torch.allclose(a_logits[0, :6], logits[0, 6:12], atol=1e-5), "packing changed the logits"

    cat = lambda key: torch.tensor([v for r in records for v in r[key]], dtype=torch.int64)
    tensors = {name: t.detach().clone() for name, t in p.items()}
    tensors.update({"ids": cat("ids"), "loss_mask": cat("loss_mask"), "conversation_lens": cat("conversation_lens"),
                    "record_lens": torch.tensor([len(r["ids"]) for r in records], dtype=torch.int64),
                    "record_conversations": torch.tensor([len(r["conversation_lens"]) for r in records],
                                                         dtype=torch.int64),
                    "input_ids": idx, "targets": targets, "positions": pos,
                    "loss": loss.detach().double().reshape(1)})
    tensors.update({"grad." + name: t.grad.detach().clone() for name, t in p.items()})
    metadata = {k: str(v) for k, v in cfg.items()}
    metadata["torch"] = torch.__version__
    path = os.path.join(out_dir, "gpt2_sft_tiny.safetensors")
    write(path, tensors, metadata)
    print(f"{path}: loss {loss.item():.6f} over {(targets >= 0).sum().item()} targets", file=sys.stderr)


if __name__ == "__main__":
    main()
