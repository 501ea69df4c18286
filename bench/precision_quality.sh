#!/usr/bin/env bash
# Does bf16 train as well as fp32 (issue 25)? The same runs with pretrain --precision fp32 and bf16:
#  1. bench/pretrain_quality.sh's byte-level Tiny Shakespeare in nanoGPT's baby shape (4 layers, 128 wide, ctx
#     64, batch 12, 2000 steps, lr 1e-3 cosine to 1e-4, warmup 100, beta2 0.99, weight decay 0.1, clip 1,
#     no dropout), both final models measured on every target of the validation set. Target: bf16 within
#     0.01 of fp32.
#  2. GPT-2 124M from scratch on WikiText-2-sized text (wiki.valid to train, wiki.test to validate; GPT-2's
#     ids, ctx 256, batch 4, --steps N, default 200, lr 6e-4 warmup 20 cosine), validated every 25 steps:
#     both loss curves in one SVG ($OUT/precision-loss.svg, default OUT=.) and the final losses.
# Speed does not matter here (bench/precision.sh measures it): the runs may share the machine.
#   bench/precision_quality.sh [--threads N] [--steps N] [--quick]   (--quick: 200 baby steps, 60 124M steps)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 baby_steps=2000 gpt_steps=200 out=${OUT:-.}
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --steps) gpt_steps=$2; shift 2 ;;
    --quick) baby_steps=200 gpt_steps=60; shift ;;
    *) echo "usage: bench/precision_quality.sh [--threads N] [--steps N] [--quick]" >&2; exit 2 ;;
  esac
done
bin=build/cmd
[ -x "$bin/pretrain" ] || .ci/setup
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=PASSIVE

# --- 1. Tiny Shakespeare bytes, the first 90% to train and the rest to validate (nanoGPT's split).
text=../shared/data/tinyshakespeare/input.txt
n=$(stat -c %s "$text")
split=$((n * 9 / 10))
head -c "$split" "$text" > "$work/train.txt"
tail -c +"$((split + 1))" "$text" > "$work/val.txt"
$bin/tok-train --model bpe --vocab-size 257 --quiet -o "$work/bytes" "$work/train.txt"
for part in train val; do
  $bin/tok-encode -v "$work/bytes" --quiet "$work/$part.txt" | $bin/make-pairs --task causal --max-len 64 --quiet -o "$work/$part.shard"
done
baby=(--preset gpt-baby --data "$work/train.shard" --val "$work/val.shard" --steps "$baby_steps" --batch-size 12 --lr 1e-3
      --min-lr 1e-4 --warmup 100 --beta2 0.99 --weight-decay 0.1 --grad-clip 1 --dropout 0 --eval-every 0 --threads "$threads" --quiet)
# Each precision with two seeds: how far apart two fp32 runs land is the yardstick for bf16's difference.
for seed in 0 1; do
  for p in fp32 bf16; do
    $bin/pretrain "${baby[@]}" --precision "$p" --seed "$seed" -o "$work/baby-$p-$seed"
    # Measured in fp32 both: the weights are what bf16 training made, the yardstick the same.
    $bin/pretrain --init-from "$work/baby-$p-$seed" --val "$work/val.shard" --batch-size 12 --threads "$threads" --eval-only |
      jq .loss > "$work/baby-$p-$seed.loss"
  done
done
awk -v a="$(cat "$work/baby-fp32-0.loss")" -v b="$(cat "$work/baby-bf16-0.loss")" -v c="$(cat "$work/baby-fp32-1.loss")" \
    -v d="$(cat "$work/baby-bf16-1.loss")" -v s="$baby_steps" 'BEGIN{
  printf "Tiny Shakespeare bytes, baby shape, %d steps, validation loss on every target:\n", s
  printf "  seed 0: fp32 %.4f, bf16 %.4f, bf16 - fp32 %+.4f\n", a, b, b - a
  printf "  seed 1: fp32 %.4f, bf16 %.4f, bf16 - fp32 %+.4f\n", c, d, d - c
  m = ((b - a) + (d - c)) / 2; am = m < 0 ? -m : m
  printf "  mean bf16 - fp32 %+.4f (target within 0.01: %s); fp32 seed 1 - seed 0 %+.4f\n", m, (am <= 0.01) ? "met" : "MISSED", c - a
}'

# --- 2. GPT-2 124M on WikiText-2.
wt=../shared/data/wikitext-2
$bin/tok-encode -v gpt2 --quiet "$wt/wiki.valid.tokens" | $bin/make-pairs --task causal --max-len 256 --quiet -o "$work/wt-train.shard"
$bin/tok-encode -v gpt2 --quiet "$wt/wiki.test.tokens" | $bin/make-pairs --task causal --max-len 256 --quiet -o "$work/wt-val.shard"
gpt=(--preset gpt2 --max-len 256 --data "$work/wt-train.shard" --val "$work/wt-val.shard" --steps "$gpt_steps" --batch-size 4
     --lr 6e-4 --min-lr 6e-5 --warmup 20 --eval-every 25 --eval-iters 20 --threads "$threads" --quiet)
for p in fp32 bf16; do
  env -u OPENBLAS_CORETYPE $bin/pretrain "${gpt[@]}" --precision "$p" -o "$work/gpt-$p"
done
python3 - "$work/gpt-fp32/metrics.jsonl" "$work/gpt-bf16/metrics.jsonl" "$out/precision-loss.svg" <<'PY'
import json, sys
runs = {}
for name, path in (("fp32", sys.argv[1]), ("bf16", sys.argv[2])):
    records = [json.loads(line) for line in open(path)]
    runs[name] = ([(r["step"], r["loss"]) for r in records if "loss" in r and "step" in r],
                  [(r["step"], r["val_loss"]) for r in records if "val_loss" in r])
steps = max(s for train, _ in runs.values() for s, _ in train)
losses = [l for train, val in runs.values() for _, l in train + val]
lo, hi = min(losses), max(losses)
W, H, M = 720, 420, 50
x = lambda s: M + (W - 2 * M) * s / steps
y = lambda l: H - M - (H - 2 * M) * (l - lo) / (hi - lo)
colors = {"fp32": "#1f77b4", "bf16": "#d62728"}
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W / 2}" y="20" text-anchor="middle">GPT-2 124M on WikiText-2: fp32 and bf16 products</text>',
       f'<line x1="{M}" y1="{H - M}" x2="{W - M}" y2="{H - M}" stroke="black"/>',
       f'<line x1="{M}" y1="{M}" x2="{M}" y2="{H - M}" stroke="black"/>',
       f'<text x="{W / 2}" y="{H - 15}" text-anchor="middle">step (0 to {steps})</text>',
       f'<text x="10" y="{M}">{hi:.2f}</text><text x="10" y="{H - M}">{lo:.2f}</text>']
for i, (name, (train, val)) in enumerate(runs.items()):
    points = " ".join(f"{x(s):.1f},{y(l):.1f}" for s, l in train)
    svg.append(f'<polyline fill="none" stroke="{colors[name]}" stroke-width="1" opacity="0.7" points="{points}"/>')
    svg += [f'<circle cx="{x(s):.1f}" cy="{y(l):.1f}" r="3" fill="{colors[name]}"/>' for s, l in val]
    svg.append(f'<text x="{W - M - 160}" y="{M + 16 * i}" fill="{colors[name]}">{name}: train (line), val (dots)</text>')
svg.append("</svg>")
open(sys.argv[3], "w").write("\n".join(svg) + "\n")
for name, (train, val) in runs.items():
    tail = [l for _, l in train[-20:]]
    print(f"GPT-2 124M, {steps} steps, {name}: training loss (mean of the last 20 steps) {sum(tail) / len(tail):.4f}, "
          f"final validation loss {val[-1][1]:.4f}")
print(f"both curves: {sys.argv[3]}")
PY
