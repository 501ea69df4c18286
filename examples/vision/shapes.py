#!/usr/bin/env python3
"""A synthetic picture-question set for examples/vision: shapes of several colours, sizes and positions
drawn into PNGs, and questions whose answers come from what was drawn, so a reader can check every one.

  shapes.py make -o DIR [--train N] [--test M] [--size S] [--seed K]
  shapes.py blank SET.jsonl --picture PNG      the same lines with every picture replaced by PNG
  shapes.py score TEST.jsonl ANSWERS.jsonl     exact-match accuracy per question type (ANSWERS: sample
                                               --messages TEST.jsonl's replies, a line each), with the share
                                               a guess from the question alone would get right, as JSON

writes DIR/pics/{train,test}-NNNNNN.png, and beside them
  DIR/captions.jsonl  {"image", "text"}: every training picture described (LLaVA's first stage)
  DIR/train.jsonl     {"image", "messages", "type", "answer"}: a question about each training picture
  DIR/test.jsonl      the same for the held-out pictures (other pictures from the same distribution)

A picture holds one to three shapes (circle, square, triangle) in one of six colours, small or big,
not overlapping, on white. The question types, and what answering from the text alone would score:
  count     How many shapes are there?                       1, 2 or 3             (1/3)
  colour    What colour is the circle?  (a shape it has one of)   six colours          (1/6)
  shape     What shape is the red one?  (a colour it has one of)  three shapes         (1/3)
  position  Is the red circle on the left or the right?            left or right        (1/2)
  size      Is the red circle big or small?                        big or small         (1/2)
Answers are one word, so exact match is the measure. Only Python's standard library.
"""
import argparse, json, os, random, struct, sys, zlib

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30),
           "purple": (150, 60, 190), "orange": (240, 130, 30)}
SHAPES = ["circle", "square", "triangle"]
TYPES = ["count", "colour", "shape", "position", "size"]


def write_png(path, size, pixels):
    """pixels: rows of (r, g, b) tuples."""
    raw = b"".join(b"\0" + bytes(v for p in row for v in p) for row in pixels)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def inside(shape, dx, dy, r):
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return abs(dx) <= 0.85 * r and abs(dy) <= 0.85 * r
    # An upward triangle: its width grows from the apex at -r to 2r at the base at +r.
    return -r <= dy <= r and abs(dx) <= (dy + r) / 2


def draw(size, objects):
    pixels = [[(255, 255, 255)] * size for _ in range(size)]
    for o in objects:
        r, cx, cy = o["r"], o["x"], o["y"]
        for y in range(max(0, int(cy - r) - 1), min(size, int(cy + r) + 2)):
            row = pixels[y]
            for x in range(max(0, int(cx - r) - 1), min(size, int(cx + r) + 2)):
                if inside(o["shape"], x + 0.5 - cx, y + 0.5 - cy, r):
                    row[x] = COLOURS[o["colour"]]
    return pixels


def scene(rng, size):
    """One to three shapes that do not overlap, none astride the middle (so left and right are clear)."""
    while True:
        objects = []
        for _ in range(rng.randint(1, 3)):
            big = rng.random() < 0.5
            r = size * (0.17 if big else 0.09)
            for _ in range(50):
                x, y = rng.uniform(r + 1, size - r - 1), rng.uniform(r + 1, size - r - 1)
                if abs(x - size / 2) < r + 1:
                    continue
                if all((x - o["x"]) ** 2 + (y - o["y"]) ** 2 > (r + o["r"] + 2) ** 2 for o in objects):
                    objects.append({"shape": rng.choice(SHAPES), "colour": rng.choice(list(COLOURS)), "big": big,
                                    "r": r, "x": x, "y": y})
                    break
        if objects:
            return objects


def describe(o, size):
    return f"a {'big' if o['big'] else 'small'} {o['colour']} {o['shape']} on the {'left' if o['x'] < size / 2 else 'right'}"


def question(rng, objects, size):
    """A question of a type drawn uniformly among those the picture can answer: (type, question, answer)."""
    shapes = [o["shape"] for o in objects]
    colours = [o["colour"] for o in objects]
    unique = [o for o in objects if (shapes.count(o["shape"]), colours.count(o["colour"])) == (1, 1)]
    options = ["count"]
    if any(shapes.count(s) == 1 for s in shapes):
        options.append("colour")
    if any(colours.count(c) == 1 for c in colours):
        options.append("shape")
    if unique:
        options += ["position", "size"]
    kind = rng.choice(options)
    if kind == "count":
        return kind, "How many shapes are there?", str(len(objects))
    if kind == "colour":
        o = rng.choice([o for o in objects if shapes.count(o["shape"]) == 1])
        return kind, f"What colour is the {o['shape']}?", o["colour"]
    if kind == "shape":
        o = rng.choice([o for o in objects if colours.count(o["colour"]) == 1])
        return kind, f"What shape is the {o['colour']} one?", o["shape"]
    o = rng.choice(unique)
    if kind == "position":
        return kind, f"Is the {o['colour']} {o['shape']} on the left or the right?", "left" if o["x"] < size / 2 else "right"
    return kind, f"Is the {o['colour']} {o['shape']} big or small?", "big" if o["big"] else "small"


def make(args):
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.out, "pics"), exist_ok=True)
    with open(os.path.join(args.out, "captions.jsonl"), "w") as captions:
        for split, n in (("train", args.train), ("test", args.test)):
            with open(os.path.join(args.out, f"{split}.jsonl"), "w") as f:
                for i in range(n):
                    objects = scene(rng, args.size)
                    name = f"pics/{split}-{i:06d}.png"
                    write_png(os.path.join(args.out, name), args.size, draw(args.size, objects))
                    kind, q, a = question(rng, objects, args.size)
                    f.write(json.dumps({"image": name, "messages": [
                        {"role": "user", "content": "<image>\n" + q}, {"role": "assistant", "content": a}],
                        "type": kind, "answer": a}) + "\n")
                    if split == "train":
                        text = ", ".join(describe(o, args.size) for o in objects)
                        captions.write(json.dumps({"image": name, "text": text[0].upper() + text[1:] + "."}) + "\n")
    print(json.dumps({"train": args.train, "test": args.test, "size": args.size}))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def blank(args):
    for row in read_jsonl(args.set):
        row["image"] = args.picture
        print(json.dumps(row))


# What answering from the question alone scores: one over the number of possible answers.
CHANCE = {"count": 1 / 3, "colour": 1 / len(COLOURS), "shape": 1 / len(SHAPES), "position": 1 / 2, "size": 1 / 2}


def score(args):
    test, answers = read_jsonl(args.test), read_jsonl(args.answers)
    if len(test) != len(answers):
        sys.exit(f"shapes.py: error: {args.answers} has {len(answers)} replies for {len(test)} questions")
    right, total = {t: 0 for t in TYPES}, {t: 0 for t in TYPES}
    for q, a in zip(test, answers):
        total[q["type"]] += 1
        right[q["type"]] += a["reply"].strip() == q["answer"]
    rows = {t: {"accuracy": round(right[t] / total[t], 4), "questions": total[t], "chance": round(CHANCE[t], 4)}
            for t in TYPES if total[t]}
    n = sum(total.values())
    rows["all"] = {"accuracy": round(sum(right.values()) / n, 4), "questions": n,
                   "chance": round(sum(CHANCE[t] * total[t] for t in TYPES) / n, 4)}
    print(json.dumps(rows, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("-o", "--out", required=True)
    m.add_argument("--train", type=int, default=5000)
    m.add_argument("--test", type=int, default=500)
    m.add_argument("--size", type=int, default=64)
    m.add_argument("--seed", type=int, default=1)
    b = sub.add_parser("blank")
    b.add_argument("set")
    b.add_argument("--picture", required=True)
    s = sub.add_parser("score")
    s.add_argument("test")
    s.add_argument("answers")
    args = p.parse_args()
    {"make": make, "blank": blank, "score": score}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
