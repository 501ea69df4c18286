#!/usr/bin/python3
"""PyTorch reference values for LLaVA (tests/unit/llava_reference_test.cpp): a tiny CLIP vision tower, the
two-layer projector and a tiny GPT-2 decoder, on two pictures and two sequences that hold their
placeholders. Written from the definitions (CLIP, arXiv 2103.00020, as transformers' CLIPVisionModel lays
it out; LLaVA-1.5, arXiv 2310.03744, as LlavaForConditionalGeneration computes it), not from lmpipe's code:

  pixels [I, S, S, 3] bytes -> (x / 255 in double, then float - mean) / std, as CLIPImageProcessor rescales
  and normalises -> a convolution with stride P (the patch embedding, no bias) -> the class embedding before
  the patches, learned positions added -> pre_layrnorm -> pre-LN blocks (q scaled by head_dim^-1/2, softmax
  attention over every position, quick GELU x sigmoid(1.702 x)) -> the hidden state of the second-to-last
  layer (vision_feature_layer -2), class token dropped -> linear_1, GELU (erf), linear_2 -> in place of the
  placeholder ids, in order, in the decoder's token embeddings -> GPT-2 with positions added -> logits ->
  mean cross-entropy of the targets (-1: none).

Run with Debian's python3-torch (`/usr/bin/python3`); writes tests/data/nn/llava_tiny.safetensors: the
weights (transformers' names), pixels, input_ids, targets, the vision features, the projector's output,
logits, loss and every gradient ("grad." + name; the unused last vision layer's and post_layernorm's are 0).
"""
import os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt_reference import conv1d, layer_norm, parameters, write  # noqa: E402

torch.manual_seed(2310)
torch.use_deterministic_algorithms(True)

VISION = dict(image_size=24, patch_size=8, d_model=32, n_layer=2, n_head=4, d_ff=64, feature_layer=-2)
TEXT = dict(arch="gpt2", vocab_size=64, max_len=16, n_layer=2, n_head=4, d_model=32, d_ff=128)
IMAGE_TOKEN = 63
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073], dtype=torch.float32)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711], dtype=torch.float32)


def vision_parameters(cfg):
    D, Fd, P, L = cfg["d_model"], cfg["d_ff"], cfg["patch_size"], cfg["n_layer"]
    positions = (cfg["image_size"] // P) ** 2 + 1
    e = "vision_tower.vision_model."
    shapes = [(e + "embeddings.class_embedding", (D,)), (e + "embeddings.patch_embedding.weight", (D, 3, P, P)),
              (e + "embeddings.position_embedding.weight", (positions, D)), (e + "pre_layrnorm.weight", (D,)),
              (e + "pre_layrnorm.bias", (D,))]
    for l in range(L):
        n = f"{e}encoder.layers.{l}."
        for name, shape in [("layer_norm1.weight", (D,)), ("layer_norm1.bias", (D,))] + \
                [(f"self_attn.{x}_proj.weight", (D, D)) for x in "qkv"] + \
                [(f"self_attn.{x}_proj.bias", (D,)) for x in "qkv"] + \
                [("self_attn.out_proj.weight", (D, D)), ("self_attn.out_proj.bias", (D,)),
                 ("layer_norm2.weight", (D,)), ("layer_norm2.bias", (D,)), ("mlp.fc1.weight", (Fd, D)),
                 ("mlp.fc1.bias", (Fd,)), ("mlp.fc2.weight", (D, Fd)), ("mlp.fc2.bias", (D,))]:
            shapes.append((n + name, shape))
    shapes += [(e + "post_layernorm.weight", (D,)), (e + "post_layernorm.bias", (D,))]
    p = {}
    for name, shape in shapes:
        t = torch.randn(shape) * 0.1
        if "norm" in name:
            t = (1.0 if name.endswith("weight") else 0.0) + torch.randn(shape) * 0.1
        p[name] = t.requires_grad_()
    return p


def vision_features(p, cfg, pixels):
    """The feature layer's hidden states without the class token: [I, patches, D]."""
    D, H, P = cfg["d_model"], cfg["n_head"], cfg["patch_size"]
    e = "vision_tower.vision_model."
    unit = (pixels.to(torch.float64) * (1 / 255)).to(torch.float32)
    x = ((unit - MEAN) / STD).permute(0, 3, 1, 2)  # [I, 3, S, S]
    patches = F.conv2d(x, p[e + "embeddings.patch_embedding.weight"], stride=P).flatten(2).transpose(1, 2)
    I, Np, _ = patches.shape
    x = torch.cat([p[e + "embeddings.class_embedding"].expand(I, 1, D), patches], 1)
    x = x + p[e + "embeddings.position_embedding.weight"]
    x = F.layer_norm(x, (D,), p[e + "pre_layrnorm.weight"], p[e + "pre_layrnorm.bias"], eps=1e-5)
    hidden = [x]
    for l in range(cfg["n_layer"]):
        h = lambda n: p[f"{e}encoder.layers.{l}.{n}"]
        lin = lambda z, n: z @ h(n + ".weight").t() + h(n + ".bias")
        z = F.layer_norm(x, (D,), h("layer_norm1.weight"), h("layer_norm1.bias"), eps=1e-5)
        q = lin(z, "self_attn.q_proj") * (D // H) ** -0.5
        k, v = lin(z, "self_attn.k_proj"), lin(z, "self_attn.v_proj")
        q, k, v = [t.view(I, Np + 1, H, D // H).transpose(1, 2) for t in (q, k, v)]
        y = ((q @ k.transpose(-2, -1)).softmax(-1) @ v).transpose(1, 2).reshape(I, Np + 1, D)
        x = x + lin(y, "self_attn.out_proj")
        z = F.layer_norm(x, (D,), h("layer_norm2.weight"), h("layer_norm2.bias"), eps=1e-5)
        z = lin(z, "mlp.fc1")
        x = x + lin(z * torch.sigmoid(1.702 * z), "mlp.fc2")
        hidden.append(x)
    return hidden[cfg["feature_layer"]][:, 1:]


def gpt2_embedded(p, cfg, x):
    """GPT-2 from input embeddings (positions added here), as GPT2Model takes inputs_embeds."""
    B, T, C = x.shape
    H = cfg["n_head"]
    x = x + p["language_model.transformer.wpe.weight"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(cfg["n_layer"]):
        h = lambda n: p[f"language_model.transformer.h.{l}.{n}"]
        z = layer_norm(x, h("ln_1.weight"), h("ln_1.bias"))
        q, k, v = conv1d(z, h("attn.c_attn.weight"), h("attn.c_attn.bias")).split(C, 2)
        q, k, v = [t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v)]
        att = ((q @ k.transpose(-2, -1)) / (C // H) ** 0.5).masked_fill(~causal, float("-inf")).softmax(-1)
        x = x + conv1d((att @ v).transpose(1, 2).reshape(B, T, C), h("attn.c_proj.weight"), h("attn.c_proj.bias"))
        z = layer_norm(x, h("ln_2.weight"), h("ln_2.bias"))
        z = F.gelu(conv1d(z, h("mlp.c_fc.weight"), h("mlp.c_fc.bias")), approximate="tanh")
        x = x + conv1d(z, h("mlp.c_proj.weight"), h("mlp.c_proj.bias"))
    x = layer_norm(x, p["language_model.transformer.ln_f.weight"], p["language_model.transformer.ln_f.bias"])
    return x @ p["language_model.transformer.wte.weight"].t()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "nn", "llava_tiny.safetensors")
    p = vision_parameters(VISION)
    p.update({"language_model." + k: v for k, v in parameters(TEXT).items()})
    Dv, Dt = VISION["d_model"], TEXT["d_model"]
    for name, shape in [("linear_1.weight", (Dt, Dv)), ("linear_1.bias", (Dt,)), ("linear_2.weight", (Dt, Dt)),
                        ("linear_2.bias", (Dt,))]:
        p["multi_modal_projector." + name] = (torch.randn(shape) * 0.1).requires_grad_()

    I, S = 2, VISION["image_size"]
    Np = (S // VISION["patch_size"]) ** 2
    pixels = torch.randint(0, 256, (I, S, S, 3))
    B, T = 2, TEXT["max_len"]
    ids = torch.randint(0, IMAGE_TOKEN, (B, T))
    ids[0, 1:1 + Np] = IMAGE_TOKEN   # a picture after the first id
    ids[1, 4:4 + Np] = IMAGE_TOKEN   # and one further in
    targets = torch.randint(0, IMAGE_TOKEN, (B, T))
    targets[ids == IMAGE_TOKEN] = -1  # no loss where a picture is read
    targets[0, :1] = -1

    features = vision_features(p, VISION, pixels)
    m = lambda n: p["multi_modal_projector." + n]
    projected = F.gelu(features @ m("linear_1.weight").t() + m("linear_1.bias")) @ m("linear_2.weight").t() + m("linear_2.bias")
    x = p["language_model.transformer.wte.weight"][ids]
    x = x.masked_scatter((ids == IMAGE_TOKEN)[..., None].expand_as(x), projected.reshape(-1, Dt))
    logits = gpt2_embedded(p, TEXT, x)
    loss = F.cross_entropy(logits.reshape(-1, TEXT["vocab_size"]), targets.reshape(-1), ignore_index=-1)
    loss.backward()

    tensors = {name: t for name, t in p.items()}
    tensors.update({"grad." + name: (t.grad if t.grad is not None else torch.zeros_like(t)) for name, t in p.items()})
    tensors.update({"pixels": pixels, "input_ids": ids, "targets": targets, "features": features.reshape(-1, Dv),
                    "image_embeddings": projected.reshape(-1, Dt), "logits": logits, "loss": loss.reshape(1)})
    meta = {k: str(v) for k, v in VISION.items()}
    meta = {"vision_" + k: v for k, v in meta.items()}
    meta.update({"text_" + k: str(v) for k, v in TEXT.items()})
    meta["image_token"] = str(IMAGE_TOKEN)
    write(out, tensors, meta)
    print(f"loss {loss.item():.6f}; {len(p)} tensors -> {out}")


if __name__ == "__main__":
    main()
