#!/usr/bin/env bash
# Pictures' speed (issue 23), ours and the anchors in one run:
# 1. make-images on one core beside the bare loops of the image layer (image-bench: decoding alone, then with
#    CLIP's resize and crop; the files in memory) and beside PIL + transformers' CLIPImageProcessor, on N JPEG
#    photos-to-be of 640 x 480 (smooth colour fields with noise, quality 90), to 224 x 224;
# 2. the vision tower's pictures per second (CLIP ViT-B/32, every layer, forward) at batch 1 and BATCH: ours
#    (vision-bench) against transformers' CLIPVisionModel on Debian's torch, the same shape, random weights,
#    alternating rounds, medians; in fp32, and in bf16 (ours --precision bf16, PyTorch's autocast to bf16)
#    where our bf16 products run (AVX512-BF16).
#   bench/vision.sh            (N=400 BATCH=16 ROUNDS=3 THREADS=2 by default)
# OPENBLAS_CORETYPE is unset for our commands here (it slows OpenBLAS on this machine); PyTorch runs with it set
# to the kernels ours pick and denormals flushed to zero, as ours run (bench/pretrain.sh says why).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
[ -x "$build/bench/vision-bench" ] || .ci/setup
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/lib.sh
export OMP_WAIT_POLICY=PASSIVE
n=${N:-400} batch=${BATCH:-16} rounds=${ROUNDS:-3} threads=${THREADS:-2}

# --- 1. make-images -------------------------------------------------------------------------------------------------
/usr/bin/python3 - "$work" "$n" <<'PY'
import json, os, sys
import numpy as np
from PIL import Image
work, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
os.makedirs(f"{work}/pics")
with open(f"{work}/pictures.jsonl", "w") as f:
    for i in range(n):
        y, x = np.mgrid[0:480, 0:640]
        base = np.stack([(x * (i % 7 + 1)) % 256, (y * (i % 5 + 1)) % 256, (x + y + 40 * i) % 256], -1)
        picture = np.clip(base + rng.integers(-20, 21, (480, 640, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(picture).save(f"{work}/pics/{i:05d}.jpg", quality=90)
        f.write(json.dumps({"image": f"pics/{i:05d}.jpg", "text": f"Picture number {i}."}) + "\n")
PY
"$build/cmd/tok-train" --extend gpt2 --add-special '<image>' --quiet -o "$work/vocab"
bare=$(env -u OPENBLAS_CORETYPE "$build/bench/image-bench" 224 "$work"/pics/*.jpg)
decode=$(sed -n 's/.*decode images_per_s=\([0-9.]*\).*/\1/p' <<< "$bare")
decode_resize=$(sed -n 's/.*decode+resize images_per_s=\([0-9.]*\).*/\1/p' <<< "$bare")
seconds=$(best env -u OPENBLAS_CORETYPE "$build/cmd/make-images" -v "$work/vocab" --threads 1 --quiet \
  "$work/pictures.jsonl" -o "$work/out.images")
ours=$(awk -v n="$n" -v s="$seconds" 'BEGIN{printf "%.1f", n / s}')
kernels=$(env -u OPENBLAS_CORETYPE "$build/bench/gemm-peak" --size 256 | sed 's/.*kernels=\([A-Za-z0-9]*\).*/\1/')
pil=$(/usr/bin/python3 - "$work" <<'PY'
import glob, sys, time
import transformers
from PIL import Image
transformers.logging.set_verbosity_error()
processor = transformers.CLIPImageProcessor(do_rescale=False, do_normalize=False)
files = sorted(glob.glob(f"{sys.argv[1]}/pics/*.jpg"))
best = 1e30
for _ in range(2):
    t0 = time.perf_counter()
    for f in files:
        processor(images=Image.open(f), return_tensors="np")
    best = min(best, time.perf_counter() - t0)
print(f"{len(files) / best:.1f}")
PY
)
echo "make-images, $n JPEGs of 640x480 to 224x224, one core (pictures/s):"
echo "  libjpeg-turbo decode alone          $decode"
echo "  decode + CLIP resize and crop       $decode_resize"
echo "  make-images --threads 1             $ours   ($(awk -v a="$ours" -v b="$decode_resize" 'BEGIN{printf "%.2f", a / b}')x the bare loop, $(awk -v a="$ours" -v b="$decode" 'BEGIN{printf "%.2f", a / b}')x decoding alone)"
echo "  PIL + CLIPImageProcessor (anchor)   $pil   (make-images $(awk -v a="$ours" -v b="$pil" 'BEGIN{printf "%.2f", a / b}')x)"

# --- 2. the vision tower ----------------------------------------------------------------------------------------------
cat > "$work/torch_vision.py" <<'PY'
import contextlib, sys, time
import torch, transformers
batch, threads, precision = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)
torch.set_flush_denormal(True)
model = transformers.CLIPVisionModel(transformers.CLIPVisionConfig()).eval()  # ViT-B/32's shape
pixels = torch.randn(batch, 3, 224, 224)
times = []
autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
with torch.no_grad(), autocast:
    model(pixel_values=pixels)
    for _ in range(7):
        t0 = time.perf_counter()
        model(pixel_values=pixels)
        times.append(time.perf_counter() - t0)
print(f"{batch / sorted(times)[3]:.2f}")
PY
# bf16 where vision-bench computes in it: select_precision says in one line on stderr when it cannot.
precisions=(fp32)
env -u OPENBLAS_CORETYPE "$build/bench/vision-bench" --preset vit-tiny --runs 1 --precision bf16 2>&1 > /dev/null |
  grep -q . || precisions+=(bf16)
echo "CLIP ViT-B/32 vision tower, forward, $threads threads (pictures/s, medians of $rounds rounds):"
for p in "${precisions[@]}"; do
  for b in 1 "$batch"; do
    o=() t=()
    for _ in $(seq "$rounds"); do
      o+=("$(env -u OPENBLAS_CORETYPE "$build/bench/vision-bench" --preset clip-vit-b-32 --batch "$b" --threads "$threads" \
        --precision "$p" | sed -n 's/.*images_per_s=\([0-9.]*\).*/\1/p')")
      t+=("$(OPENBLAS_CORETYPE=$kernels /usr/bin/python3 "$work/torch_vision.py" "$b" "$threads" "$p" 2> /dev/null)")
    done
    om=$(echo "${o[@]}" | median) tm=$(echo "${t[@]}" | median)
    echo "  $p batch $b: ours $om, torch $tm ($(awk -v a="$om" -v b="$tm" 'BEGIN{printf "%.2f", a / b}')x)"
  done
done
