#!/usr/bin/env bash
# LLaVA's training speed (issue 23 target: at least 1.5x PyTorch on the same shape): pretrain --arch llava in
# LLaVA's second stage (vision tower frozen; projector and decoder trained) against the same model and step in
# plain PyTorch (tests/reference/make_llava_reference.py's functions with an AdamW over the trained tensors), on
# Debian's torch: CLIP ViT-B/32 (224 pixels, 49 patches), the mlp2x projector, a GPT-2 decoder of PRESET's
# shape; BATCH records of a 224 x 224 picture and TEXT caption ids each. Median seconds a step (steps 2..STEPS),
# and tokens a second counting every position (the picture's patches and the text).
#   bench/llava_train.sh      (PRESET=gpt2 BATCH=8 TEXT=64 STEPS=6 THREADS=2 by default)
# OPENBLAS_CORETYPE is unset for ours here (it slows OpenBLAS on this machine); PyTorch runs with it set to the
# kernels ours pick and denormals flushed to zero, as ours run (bench/pretrain.sh says why): its fastest setting.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
[ -x "$build/cmd/pretrain" ] && [ -x "$build/bench/gemm-peak" ] || .ci/setup
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/lib.sh
export OMP_WAIT_POLICY=PASSIVE
preset=${PRESET:-gpt2} batch=${BATCH:-8} text=${TEXT:-64} steps=${STEPS:-6} threads=${THREADS:-2}

# Pictures and captions of exactly TEXT ids (a caption is <image>, TEXT - 2 words, <|endoftext|>).
/usr/bin/python3 - "$work" "$((batch * steps))" "$((text - 2))" <<'PY'
import json, os, sys
import numpy as np
from PIL import Image
work, n, words = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{work}/pics")
rng = np.random.default_rng(0)
with open(f"{work}/set.jsonl", "w") as f:
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(f"{work}/pics/{i}.png")
        f.write(json.dumps({"image": f"pics/{i}.png", "text": " the" * words}) + "\n")
PY
"$build/cmd/tok-train" --extend gpt2 --add-special '<image>' --quiet -o "$work/vocab"
"$build/cmd/make-images" -v "$work/vocab" --max-len "$text" --quiet "$work/set.jsonl" -o "$work/set.images"
positions=$((text - 1 + 48))  # inputs: the ids but the last, the placeholder expanded to 49 patches
env -u OPENBLAS_CORETYPE "$build/cmd/pretrain" --arch llava --preset "$preset" --max-len 128 --vision clip-vit-b-32 \
  --freeze vision --data "$work/set.images" --no-shuffle --steps "$steps" --batch-size "$batch" --threads "$threads" \
  -o "$work/run" --quiet
ours=$(jq -s '[.[] | select(.loss != null) | .elapsed_s] | [range(1; length) as $i | .[$i] - .[$i - 1]] | .[]' \
  "$work/run/metrics.jsonl" | median)

kernels=$(env -u OPENBLAS_CORETYPE "$build/bench/gemm-peak" --size 256 | sed 's/.*kernels=\([A-Za-z0-9]*\).*/\1/')
theirs=$(OPENBLAS_CORETYPE=$kernels /usr/bin/python3 - "$preset" "$batch" "$positions" "$steps" "$threads" <<'PY'
import os, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "reference"))
from make_llava_reference import gpt2_embedded, vision_features, vision_parameters
from make_gpt_reference import parameters
preset, B, T, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.set_flush_denormal(True)
shapes = {"gpt2": (12, 12, 768), "gpt-baby": (4, 4, 128)}
L, H, C = shapes[preset]
vision = dict(image_size=224, patch_size=32, d_model=768, n_layer=12, n_head=12, d_ff=3072, feature_layer=-2)
text = dict(arch="gpt2", vocab_size=50258, max_len=128, n_layer=L, n_head=H, d_model=C, d_ff=4 * C)
p = vision_parameters(vision)
for t in p.values():
    t.requires_grad_(False)  # LLaVA's second stage: the vision tower frozen
trained = {"language_model." + k: v for k, v in parameters(text).items()}
trained.update({"multi_modal_projector." + n: (torch.randn(s) * 0.02).requires_grad_() for n, s in
                [("linear_1.weight", (C, 768)), ("linear_1.bias", (C,)), ("linear_2.weight", (C, C)), ("linear_2.bias", (C,))]})
p.update(trained)
optimizer = torch.optim.AdamW(list(trained.values()), lr=1e-4)
pixels = torch.randint(0, 256, (B, 224, 224, 3))
ids = torch.randint(0, 50000, (B, T))
ids[:, 0:49] = 50257
targets = torch.where(ids == 50257, -1, torch.randint(0, 50000, (B, T)))
times = []
for step in range(steps):
    t0 = time.perf_counter()
    with torch.no_grad():
        features = vision_features(p, vision, pixels)
    m = lambda n: p["multi_modal_projector." + n]
    projected = F.gelu(features @ m("linear_1.weight").t() + m("linear_1.bias")) @ m("linear_2.weight").t() + m("linear_2.bias")
    x = p["language_model.transformer.wte.weight"][ids]
    x = x.masked_scatter((ids == 50257)[..., None].expand_as(x), projected.reshape(-1, C))
    logits = gpt2_embedded(p, text, x)
    loss = F.cross_entropy(logits.reshape(-1, 50258), targets.reshape(-1), ignore_index=-1)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    times.append(time.perf_counter() - t0)
print(sorted(times[1:])[(len(times) - 2) // 2])
PY
)
echo "LLaVA stage 2 (CLIP ViT-B/32 frozen, mlp2x, $preset decoder), batch $batch x $positions positions, $threads threads:"
echo "  pretrain --arch llava  $(awk -v s="$ours" 'BEGIN{printf "%.3f", s}') s a step, $(awk -v s="$ours" -v n="$((batch * positions))" 'BEGIN{printf "%.0f", n / s}') tokens/s"
echo "  PyTorch                $(awk -v s="$theirs" 'BEGIN{printf "%.3f", s}') s a step, $(awk -v s="$theirs" -v n="$((batch * positions))" 'BEGIN{printf "%.0f", n / s}') tokens/s"
echo "  ratio                  $(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.2f", b / a}')x"
