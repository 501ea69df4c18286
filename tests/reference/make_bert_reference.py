#!/usr/bin/python3
"""PyTorch reference values for the C++ BERT and RoBERTa encoders (tests/unit/bert_reference_test.cpp), from
plain PyTorch written with HuggingFace's tensor names and layouts (BertForPreTraining, RobertaForMaskedLM;
nn.Linear weights are [out, in]). Run with Debian's python3-torch (`/usr/bin/python3`); writes
tests/data/nn/{bert,roberta}_tiny.safetensors:

  the weights; a batch of 2 sequences of 16 (the second padded), segments, the masked rows (b * T + t) and
  their labels, NSP labels (BERT); the MLM and NSP losses; every gradient ("grad." + name) of their sum; and
  the summed losses before each of 3 AdamW steps and after the last ("adamw_losses"), with the settings in
  the metadata. fp32 throughout; dropout 0; erf GELU (HuggingFace's "gelu").
"""
import math, os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt_reference import write  # noqa: E402  (the same safetensors writer)

torch.manual_seed(4321)
torch.use_deterministic_algorithms(True)


def linear(x, p, name):
    return x @ p[name + ".weight"].t() + p[name + ".bias"]


def layer_norm(x, p, name, eps):
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps=eps)


def encoder(p, cfg, ids, segments, attend):
    B, T = ids.shape
    C, H, L, eps = cfg["d_model"], cfg["n_head"], cfg["n_layer"], cfg["ln_eps"]
    base = "bert." if cfg["arch"] == "bert" else "roberta."
    positions = torch.arange(T) + cfg["position_offset"]
    x = (p[base + "embeddings.word_embeddings.weight"][ids] + p[base + "embeddings.position_embeddings.weight"][positions]
         + p[base + "embeddings.token_type_embeddings.weight"][segments])
    x = layer_norm(x, p, base + "embeddings.LayerNorm", eps)
    key_bias = torch.zeros(B, 1, 1, T).masked_fill(attend[:, None, None, :] == 0, float("-inf"))
    for l in range(L):
        n = f"{base}encoder.layer.{l}."
        q, k, v = [linear(x, p, n + f"attention.self.{w}").view(B, T, H, C // H).transpose(1, 2)
                   for w in ("query", "key", "value")]
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(C // H) + key_bias).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = layer_norm(linear(y, p, n + "attention.output.dense") + x, p, n + "attention.output.LayerNorm", eps)
        f = linear(F.gelu(linear(x, p, n + "intermediate.dense")), p, n + "output.dense")
        x = layer_norm(f + x, p, n + "output.LayerNorm", eps)
    return x


def losses(p, cfg, batch):
    ids, segments, attend, rows, labels, nsp = batch
    x = encoder(p, cfg, ids, segments, attend)
    C, eps, bert = cfg["d_model"], cfg["ln_eps"], cfg["arch"] == "bert"
    flat = x.reshape(-1, C)[rows]
    head = "cls.predictions.transform." if bert else "lm_head."
    t = F.gelu(linear(flat, p, head + "dense"))
    t = layer_norm(t, p, head + ("LayerNorm" if bert else "layer_norm"), eps)
    word = p[("bert." if bert else "roberta.") + "embeddings.word_embeddings.weight"]
    logits = t @ word.t() + p["cls.predictions.bias" if bert else "lm_head.bias"]
    mlm = F.cross_entropy(logits, labels)
    if not bert:
        return mlm, torch.zeros(())
    pooled = torch.tanh(linear(x[:, 0], p, "bert.pooler.dense"))
    return mlm, F.cross_entropy(linear(pooled, p, "cls.seq_relationship"), nsp)


def parameters(cfg):
    V, C, Fd, L, bert = cfg["vocab_size"], cfg["d_model"], cfg["d_ff"], cfg["n_layer"], cfg["arch"] == "bert"
    base = "bert." if bert else "roberta."
    shapes = [(base + "embeddings.word_embeddings.weight", (V, C)),
              (base + "embeddings.position_embeddings.weight", (cfg["max_len"] + cfg["position_offset"], C)),
              (base + "embeddings.token_type_embeddings.weight", (cfg["type_vocab_size"], C)),
              (base + "embeddings.LayerNorm.weight", (C,)), (base + "embeddings.LayerNorm.bias", (C,))]
    for l in range(L):
        n = f"{base}encoder.layer.{l}."
        for name, out, inp in [("attention.self.query", C, C), ("attention.self.key", C, C), ("attention.self.value", C, C),
                               ("attention.output.dense", C, C)]:
            shapes += [(n + name + ".weight", (out, inp)), (n + name + ".bias", (out,))]
        shapes += [(n + "attention.output.LayerNorm.weight", (C,)), (n + "attention.output.LayerNorm.bias", (C,)),
                   (n + "intermediate.dense.weight", (Fd, C)), (n + "intermediate.dense.bias", (Fd,)),
                   (n + "output.dense.weight", (C, Fd)), (n + "output.dense.bias", (C,)),
                   (n + "output.LayerNorm.weight", (C,)), (n + "output.LayerNorm.bias", (C,))]
    if bert:
        shapes += [("bert.pooler.dense.weight", (C, C)), ("bert.pooler.dense.bias", (C,)),
                   ("cls.predictions.transform.dense.weight", (C, C)), ("cls.predictions.transform.dense.bias", (C,)),
                   ("cls.predictions.transform.LayerNorm.weight", (C,)), ("cls.predictions.transform.LayerNorm.bias", (C,)),
                   ("cls.predictions.bias", (V,)), ("cls.seq_relationship.weight", (2, C)), ("cls.seq_relationship.bias", (2,))]
    else:
        shapes += [("lm_head.dense.weight", (C, C)), ("lm_head.dense.bias", (C,)), ("lm_head.layer_norm.weight", (C,)),
                   ("lm_head.layer_norm.bias", (C,)), ("lm_head.bias", (V,))]
    p = {}
    for name, shape in shapes:
        t = torch.randn(shape) * 0.1
        if ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight"):
            t = 1.0 + torch.randn(shape) * 0.1
        p[name] = t.requires_grad_()
    return p


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "nn")
    for arch in ("bert", "roberta"):
        bert = arch == "bert"
        cfg = dict(arch=arch, vocab_size=64, max_len=16, type_vocab_size=2 if bert else 1, position_offset=0 if bert else 2,
                   n_layer=2, n_head=4, d_model=32, d_ff=128, ln_eps=1e-12 if bert else 1e-5)
        p = parameters(cfg)
        B, T = 2, 16
        ids = torch.randint(4, cfg["vocab_size"], (B, T))
        attend = torch.ones(B, T, dtype=torch.int64)
        attend[1, 12:] = 0
        ids[1, 12:] = 0
        segments = torch.zeros(B, T, dtype=torch.int64)
        if bert:
            segments[0, 7:] = 1
            segments[1, 5:12] = 1
        rows = torch.tensor([1, 4, 9, 15, 16 + 2, 16 + 6, 16 + 11])
        labels = torch.randint(4, cfg["vocab_size"], (len(rows),))
        nsp = torch.tensor([0, 1])
        batch = (ids, segments, attend, rows, labels, nsp)
        mlm, nsp_loss = losses(p, cfg, batch)
        (mlm + nsp_loss).backward()
        tensors = {name: t.detach().clone() for name, t in p.items()}
        tensors.update({"input_ids": ids, "segments": segments, "attend": attend, "mlm_rows": rows, "mlm_labels": labels,
                        "nsp_labels": nsp, "mlm_loss": mlm.detach().double().reshape(1),
                        "nsp_loss": nsp_loss.detach().double().reshape(1)})
        tensors.update({"grad." + name: t.grad.detach().clone() for name, t in p.items()})
        # Three AdamW steps; weight decay on every matrix, embeddings included (google-research/bert's rule).
        opt_cfg = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
        decay = [t for t in p.values() if t.dim() == 2]
        rest = [t for t in p.values() if t.dim() != 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": opt_cfg["weight_decay"]},
                                 {"params": rest, "weight_decay": 0.0}],
                                lr=opt_cfg["lr"], betas=opt_cfg["betas"], eps=opt_cfg["eps"])
        adamw_losses = []
        for _ in range(3):
            opt.zero_grad()
            m, n = losses(p, cfg, batch)
            adamw_losses.append((m + n).item())
            (m + n).backward()
            opt.step()
        with torch.no_grad():
            m, n = losses(p, cfg, batch)
            adamw_losses.append((m + n).item())
        tensors["adamw_losses"] = torch.tensor(adamw_losses, dtype=torch.float64)
        metadata = {k: str(v) for k, v in cfg.items()}
        metadata.update({"lr": str(opt_cfg["lr"]), "beta1": "0.9", "beta2": "0.999", "eps": "1e-06",
                         "weight_decay": str(opt_cfg["weight_decay"]), "torch": torch.__version__})
        path = os.path.join(out_dir, f"{arch}_tiny.safetensors")
        write(path, tensors, metadata)
        print(f"{path}: mlm {mlm.item():.6f} nsp {nsp_loss.item():.6f}, AdamW losses {adamw_losses}", file=sys.stderr)


if __name__ == "__main__":
    main()
