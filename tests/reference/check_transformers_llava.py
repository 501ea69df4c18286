#!/usr/bin/python3
"""LLaVA checkpoints against HuggingFace transformers, on a tiny model trained by pretrain --arch llava:
  loading   LlavaForConditionalGeneration.from_pretrained loads every tensor (nothing missing or unexpected
            but the tied LM head), AutoTokenizer knows <image> and the ChatML markers, CLIPImageProcessor as
            the checkpoint's preprocessor_config.json sets it gives make-images' pixels.
  model     the mean cross-entropy transformers gives over each record's masked-in targets (pixels from
            CLIPImageProcessor, ids from apply_chat_template with <image> expanded to the picture's patches,
            labels -100 where the assistant mask is 0) equals `pretrain --eval-only` on make-images' shard.
            transformers 4.46's LLaVA forward passes cache_position and num_logits_to_keep to its language
            model, which GPT2LMHeadModel 4.46 does not take: the check drops them (a note says so).
  sampling  `sample --messages --greedy` gives the ids of greedy decoding in transformers.
  CLIP      `--init-vision-from` a CLIPVisionModel and a CLIPModel that save_pretrained wrote: the vision
            tensors, frozen, come out bit for bit.
Tolerance: losses |ours - theirs| at most 1e-5; ids exact.
Run with Debian's python (torch from python3-torch), like check_transformers.py:
  /usr/bin/python3 tests/reference/check_transformers_llava.py [--bin build/cmd] [--keep]
CTest runs it as `reference_transformers_llava`. Exit status: 0 all match, 1 a mismatch or an error, 77 skipped
(transformers, jinja2, PIL or torch is not installed). Needs no network.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

from programs import Programs, Report

SKIPPED = 77
TOLERANCE = 1e-5
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
INSTALL = ("apt-get install python3-torch python3-jinja2 python3-pil; "
           "/usr/bin/python3 -m pip install --user --break-system-packages 'transformers==4.46.3' safetensors")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
SIZE = 32


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("LMPIPE_BIN", os.path.join(SOURCE, "build", "cmd")),
                   help="directory of pretrain, tok-train, make-images, sample")
    p.add_argument("--source", default=os.environ.get("LMPIPE_SOURCE", SOURCE), help="the source tree")
    p.add_argument("--keep", action="store_true", help="keep the work directory and print its path")
    return p.parse_args()


def make_checkpoint(lm, source):
    """A tiny LLaVA (vit-tiny, gpt-nano) trained a few steps on the shapes example's questions."""
    subprocess.run([sys.executable, os.path.join(source, "examples", "vision", "shapes.py"), "make", "-o", "shapes",
                    "--train", "24", "--test", "8", "--size", str(SIZE), "--seed", "5"], cwd=lm.work, check=True,
                   capture_output=True)
    lm.run("tok-train", "--extend", "gpt2", "--add-special", "<|im_start|>", "--add-special", "<|im_end|>",
           "--add-special", "<image>", "-q", "-o", "vocab")
    for split in ("train", "test"):
        lm.run("make-images", "-v", "vocab", "--image-size", SIZE, "--max-len", 48, "-q", f"shapes/{split}.jsonl",
               "-o", f"{split}.images")
    lm.run("pretrain", "--arch", "llava", "--preset", "gpt-nano", "--max-len", 96, "--vision", "vit-tiny", "--freeze",
           "none", "--data", "train.images", "--steps", 3, "--batch-size", 8, "--lr", "1e-2", "--threads", 1, "-o",
           "run", "-q")
    return os.path.join(lm.work, "run", "latest")


def load_model(transformers, report, ckpt):
    try:
        model, info = transformers.LlavaForConditionalGeneration.from_pretrained(ckpt, output_loading_info=True)
    except Exception as e:  # a checkpoint transformers cannot read is this check's failure, not a crash
        report.say(False, f"LlavaForConditionalGeneration.from_pretrained: {type(e).__name__}: {e}")
        return None
    untidy = {k: [n for n in v if n != "language_model.lm_head.weight"] for k, v in info.items()}
    untidy = {k: v for k, v in untidy.items() if v}
    report.say(not untidy, "LlavaForConditionalGeneration.from_pretrained loads every tensor"
                           + (f": loading info {untidy}" if untidy else ""))
    language_forward = model.language_model.forward
    model.language_model.forward = lambda *a, cache_position=None, num_logits_to_keep=0, **k: language_forward(*a, **k)
    report.note("transformers 4.46's LLaVA passes cache_position and num_logits_to_keep to GPT2LMHeadModel, which "
                "does not take them: dropped for this check")
    return model.eval()


def conversation_rows(tok, processor, record, placeholder, patches, work):
    """pixel_values, input ids with <image> expanded and labels (-100 where the assistant mask is 0)."""
    from PIL import Image
    pixels = processor(images=Image.open(os.path.join(work, "shapes", record["image"])), return_tensors="pt")
    out = tok.apply_chat_template(record["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, labels = [], []
    for t, m in zip(out["input_ids"], out["assistant_masks"]):
        n = patches if t == placeholder else 1
        ids += [t] * n
        labels += [t if m and t != placeholder else -100] * n
    return pixels["pixel_values"], ids, labels


def check(torch, transformers, lm, report, ckpt):
    model = load_model(transformers, report, ckpt)
    tok = transformers.AutoTokenizer.from_pretrained(ckpt)
    placeholder = tok.convert_tokens_to_ids("<image>")
    report.say(placeholder == model.config.image_token_index,
               f"AutoTokenizer knows <image> as the config's image_token_index ({placeholder})")
    processor = transformers.CLIPImageProcessor.from_pretrained(ckpt)
    patches = model.config.image_seq_length
    with open(os.path.join(lm.work, "shapes", "test.jsonl")) as f:
        records = [json.loads(line) for line in f]
    ours_pixels = [json.loads(line)["pixels"] for line in lm.run("shard-cat", "--pixels", "test.images").splitlines()]
    same_pixels, total, count = 0, 0.0, 0
    for record, want in zip(records, ours_pixels):
        pixel_values, ids, labels = conversation_rows(tok, processor, record, placeholder, patches, lm.work)
        # Undo the processor's normalisation to compare bytes: rescale 1/255, then (x - mean) / std.
        mean, std = torch.tensor(processor.image_mean)[:, None, None], torch.tensor(processor.image_std)[:, None, None]
        back = ((pixel_values[0] * std + mean) * 255).round().to(torch.int64).permute(1, 2, 0).reshape(-1).tolist()
        same_pixels += back == want
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), pixel_values=pixel_values).logits[0].double()
        target = torch.tensor(labels[1:])
        total += torch.nn.functional.cross_entropy(logits[:-1], target, ignore_index=-100, reduction="sum").item()
        count += int((target != -100).sum())
    report.say(same_pixels == len(records), f"CLIPImageProcessor.from_pretrained(checkpoint) gives make-images' pixels: "
                                            f"{same_pixels} of {len(records)} pictures")
    theirs = total / count
    ours = json.loads(lm.run("pretrain", "--arch", "llava", "--init-from", ckpt, "--eval-only", "--val", "test.images",
                             "--batch-size", 4, "--threads", 1))
    err = abs(ours["loss"] - theirs)
    report.say(err <= TOLERANCE and ours["tokens"] == count,
               f"loss: pretrain --eval-only {ours['loss']:.7f} over {ours['tokens']} targets, transformers "
               f"{theirs:.7f} over {count} (|diff| {err:.2e})")
    # Greedy replies.
    replies = [json.loads(line) for line in lm.run("sample", ckpt, "--messages", "shapes/test.jsonl", "--greedy",
                                                   "--max-new-tokens", 6, "--threads", 1).splitlines()]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    same = 0
    for record, reply in zip(records, replies):
        prompt = [m for m in record["messages"] if m["role"] != "assistant"]
        pixel_values, _, _ = conversation_rows(tok, processor, {"image": record["image"], "messages": record["messages"]},
                                               placeholder, patches, lm.work)
        ids = tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True)
        ids = [t for i in ids for t in ([i] * patches if i == placeholder else [i])]
        theirs = []
        with torch.no_grad():
            for _ in range(6):
                token = int(model(input_ids=torch.tensor([ids + theirs]), pixel_values=pixel_values).logits[0, -1].argmax())
                if token == end:
                    break
                theirs.append(token)
        same += reply["ids"] == theirs
    report.say(same == len(records), f"sample --messages --greedy = greedy decoding in transformers: {same} of "
                                     f"{len(records)} pictures' questions")


def check_clip_start(torch, transformers, lm, report):
    """--init-vision-from a CLIPVisionModel and a CLIPModel that transformers saved: the vision tower trains
    frozen, so the checkpoint holds transformers' vision weights bit for bit."""
    from safetensors.torch import load_file
    vision = dict(image_size=SIZE, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4)
    models = {"CLIPVisionModel": transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**vision)),
              "CLIPModel": transformers.CLIPModel(transformers.CLIPConfig(
                  vision_config=vision, text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                         num_attention_heads=2, vocab_size=64)))}
    for name, model in models.items():
        model.save_pretrained(os.path.join(lm.work, name), safe_serialization=True)
        lm.run("pretrain", "--arch", "llava", "--preset", "gpt-nano", "--max-len", 96, "--init-vision-from", name,
               "--freeze", "vision", "--data", "train.images", "--steps", 1, "--batch-size", 8, "--threads", 1,
               "-o", f"from-{name}", "-q")
        ours = load_file(os.path.join(lm.work, f"from-{name}", "latest", "model.safetensors"))
        theirs = {k: v for k, v in model.state_dict().items() if k.startswith("vision_model.") and "position_ids" not in k}
        same = all(torch.equal(ours["vision_tower." + k], v) for k, v in theirs.items())
        report.say(same and len(theirs) > 0, f"--init-vision-from a {name} that transformers saved: its {len(theirs)} "
                                             "vision tensors in the checkpoint, unchanged by a frozen step")


def main():
    args = parse_args()
    try:
        import jinja2  # noqa: F401 (apply_chat_template needs it)
        import PIL  # noqa: F401
        import torch
        import transformers
    except ImportError as e:
        print(f"check_transformers_llava: skipped: {e.name} is not installed ({INSTALL})")
        return SKIPPED
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    print(f"check_transformers_llava: transformers {transformers.__version__}, torch {torch.__version__}", flush=True)
    work = tempfile.mkdtemp(prefix="lmpipe-transformers-llava.")
    report = Report()
    try:
        paths = {name: os.path.join(args.bin, name) for name in ("pretrain", "tok-train", "make-images", "shard-cat", "sample")}
        lm = Programs("check_transformers_llava", work, paths)
        check(torch, transformers, lm, report, make_checkpoint(lm, args.source))
        check_clip_start(torch, transformers, lm, report)
    finally:
        if args.keep:
            print(f"check_transformers_llava: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"check_transformers_llava: {report.passed} of {report.passed + report.failed} checks match")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
