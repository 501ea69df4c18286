#!/usr/bin/env python3
"""Pictures in every layout make-images takes, and what CLIP's image processor makes of them, for
tests/unit/image_test.cpp.

Writes tests/data/image/: small PNGs (RGB, grey, 1-bit, grey with alpha, RGBA, palette with
transparency, 16-bit RGB) and JPEGs (baseline 4:2:0, progressive, grey, CMYK), and expected.safetensors: for each
picture and crop size, the pixels transformers' CLIPImageProcessor gives (its resize and centre crop,
before rescaling and normalising: do_rescale and do_normalize off), as U8 tensors "FILE/SIZE" of shape
[SIZE, SIZE, 3]; and "FILE/decoded", the picture as PIL decodes and converts it to RGB (the processor's
convert_rgb). PIL decodes JPEGs with libjpeg-turbo, as make-images does, so JPEG pixels are exact too.

Run with Debian 12's python3-pil and transformers 4.46.3 (tests/reference/README.md):
  /usr/bin/python3 tests/reference/make_image_reference.py
"""
import io, json, os, struct, sys, zlib

import numpy as np
from PIL import Image
from transformers import CLIPImageProcessor

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "image")
SIZES = [16, 23]


def picture(w, h, seed):
    """Smooth gradients with noise on top: resampling errors show in both."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    smooth = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * 7 + y * 3) % 256], -1)
    return np.clip(smooth + rng.integers(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)


def png16(path, rgb16):
    """A 16-bit RGB PNG, which PIL cannot write."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\0" + rgb16[r].astype(">u2").tobytes() for r in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, np.uint8).tobytes()
        header[name] = {"dtype": "U8", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = picture(61, 47, 1)
    files = []
    Image.fromarray(rgb).save(os.path.join(OUT, "rgb.png")); files.append("rgb.png")
    Image.fromarray(picture(30, 40, 2)[:, :, 0]).save(os.path.join(OUT, "grey.png")); files.append("grey.png")
    Image.fromarray(picture(33, 21, 3)[:, :, :2], "LA").save(os.path.join(OUT, "grey_alpha.png"))
    files.append("grey_alpha.png")
    Image.fromarray(np.dstack([picture(50, 70, 4), picture(50, 70, 5)[:, :, :1]]), "RGBA").save(
        os.path.join(OUT, "rgba.png")); files.append("rgba.png")
    palette = Image.fromarray(picture(45, 45, 6)).quantize(16)
    palette.info["transparency"] = 3
    palette.save(os.path.join(OUT, "palette.png"), transparency=3); files.append("palette.png")
    # 16-bit channels: PIL keeps the high byte of RGB (its "RGB;16B" unpacker), as stb_image does.
    png16(os.path.join(OUT, "rgb16.png"), picture(20, 30, 7).astype(np.uint16) * 257 + 100); files.append("rgb16.png")
    Image.fromarray(picture(19, 13, 14)[:, :, 0] > 128).save(os.path.join(OUT, "bilevel.png")); files.append("bilevel.png")
    # A tall thin one and a wide flat one: resizing both ways, crops far from the middle.
    Image.fromarray(picture(5, 90, 8)).save(os.path.join(OUT, "tall.png")); files.append("tall.png")
    Image.fromarray(picture(300, 9, 9)).save(os.path.join(OUT, "flat.png")); files.append("flat.png")
    Image.fromarray(picture(64, 48, 10)).save(os.path.join(OUT, "baseline.jpg"), quality=90); files.append("baseline.jpg")
    Image.fromarray(picture(40, 56, 11)).save(os.path.join(OUT, "progressive.jpg"), quality=85, progressive=True)
    files.append("progressive.jpg")
    Image.fromarray(picture(32, 24, 12)[:, :, 1]).save(os.path.join(OUT, "grey.jpg"), quality=90); files.append("grey.jpg")
    Image.fromarray(picture(24, 24, 13)).convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=95)
    files.append("cmyk.jpg")

    processor = CLIPImageProcessor(do_rescale=False, do_normalize=False)
    tensors = {}
    for name in files:
        im = Image.open(os.path.join(OUT, name))
        tensors[f"{name}/decoded"] = np.array(im.convert("RGB"))
        for size in SIZES:
            processor.size = {"shortest_edge": size}
            processor.crop_size = {"height": size, "width": size}
            px = processor(images=im, return_tensors="np")["pixel_values"][0]  # [3, S, S] floats 0..255
            assert np.all(px == np.round(px)), name
            tensors[f"{name}/{size}"] = px.transpose(1, 2, 0).astype(np.uint8)
    import transformers, PIL
    write_safetensors(os.path.join(OUT, "expected.safetensors"), tensors,
                      {"files": json.dumps(files), "sizes": json.dumps(SIZES),
                       "made_with": f"transformers {transformers.__version__} CLIPImageProcessor, Pillow {PIL.__version__}"})
    print(f"{len(files)} pictures, {len(tensors)} tensors in {OUT}")


if __name__ == "__main__":
    sys.exit(main())
