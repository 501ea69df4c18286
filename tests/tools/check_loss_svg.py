#!/usr/bin/python3
"""Checks a pretrain loss.svg against its metrics.jsonl: the file parses as SVG, and every point of the training
loss, validation loss and learning-rate polylines sits where the plot's own axis mapping (the data-* attributes of
its plot group) puts the logged value, to 0.01 pixel (coordinates are written with 2 decimals).
  check_loss_svg.py loss.svg metrics.jsonl"""
import json, math, sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def main(svg_path, metrics_path):
    root = ET.parse(svg_path).getroot()  # raises on XML that does not parse
    if root.tag != SVG + "svg":
        return f"{svg_path}: the root element is {root.tag}, not svg"
    plot = root.find(f".//{SVG}g[@id='plot']")
    if plot is None:
        return f"{svg_path}: no plot group"
    a = {k[5:]: float(v) for k, v in plot.attrib.items() if k.startswith("data-")}
    x = lambda t: a["left"] + (math.log10(t) - a["x-log10-min"]) / (a["x-log10-max"] - a["x-log10-min"]) * a["width"]
    y_loss = lambda v: a["top"] + (1 - (v - a["loss-min"]) / (a["loss-max"] - a["loss-min"])) * a["height"]
    y_lr = lambda v: a["top"] + (1 - v / a["lr-max"]) * a["height"]
    records = [json.loads(line) for line in open(metrics_path)]
    want = {
        "train": [(x(r["tokens"]), y_loss(r["loss"])) for r in records if "loss" in r and "lr" in r],
        "lr": [(x(r["tokens"]), y_lr(r["lr"])) for r in records if "loss" in r and "lr" in r],
        "val": [(x(r["tokens"]), y_loss(r["val_loss"])) for r in records if "val_loss" in r],
    }
    for cls, points in want.items():
        line = plot.find(f"{SVG}polyline[@class='{cls}']")
        if line is None:
            return f"{svg_path}: no {cls} polyline"
        got = [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]
        if len(got) != len(points):
            return f"{svg_path}: {cls} has {len(got)} points, the log {len(points)}"
        for i, (g, w) in enumerate(zip(got, points)):
            if abs(g[0] - w[0]) > 0.01 or abs(g[1] - w[1]) > 0.01:
                return f"{svg_path}: {cls} point {i} is at {g}, the log puts it at ({w[0]:.3f}, {w[1]:.3f})"
        for gx, gy in got:
            if not (a["left"] - 0.01 <= gx <= a["left"] + a["width"] + 0.01 and a["top"] - 0.01 <= gy <= a["top"] + a["height"] + 0.01):
                return f"{svg_path}: {cls} point ({gx}, {gy}) is outside the plot area"
    print(f"ok: {sum(len(p) for p in want.values())} points match {metrics_path}")
    return None


if __name__ == "__main__":
    error = main(*sys.argv[1:3])
    if error:
        print(f"check_loss_svg: {error}", file=sys.stderr)
        sys.exit(1)
