#!/usr/bin/python3
"""Interoperability with HuggingFace transformers, both ways, on tiny byte-level models:

  lmpipe -> transformers  `pretrain` trains a GPT-2 (--arch gpt) and a GPT (--arch gpt1) for a few steps;
                          GPT2LMHeadModel / OpenAIGPTLMHeadModel.from_pretrained(run/latest) must load every
                          tensor and give our logits (tests/tools/gpt_logits) and our validation loss
                          (`pretrain --eval-only`).
  generation              `sample --greedy` continues a prompt with the ids of greedy decoding in transformers
                          (with its KV cache, past_key_values, for GPT-2), on the same checkpoint.
  transformers -> lmpipe  randomly initialised (and perturbed, so biases and layer norms are not 0 and 1)
                          GPT2LMHeadModel and OpenAIGPTLMHeadModel are saved with save_pretrained(dir); lmpipe
                          loads dir and must give transformers' logits and loss. lmpipe reads model.safetensors
                          only: a pytorch_model.bin directory (safe_serialization=False) must be refused by name.

Metrics: logits: max |ours - theirs| / max |theirs| over every position of a 100-token sequence, at most 1e-5.
Loss: |ours - theirs| at most 1e-5, theirs being the mean cross-entropy over every target of every window of
the validation shard (what `pretrain --eval-only` computes), from transformers' float32 logits.

Run with Debian's python (torch from python3-torch):
  /usr/bin/python3 tests/reference/check_transformers.py [--bin build/cmd] [--test-bin build/tests] [--keep]
CTest runs it as `reference_transformers`. Exit status: 0 all match, 1 a mismatch or an error, 77 skipped
(transformers or torch is not installed). Needs no network.

Checked with transformers 4.46.3, torch 1.13.0a0 (Debian 12's python3-torch), safetensors 0.8.0,
tokenizers 0.20.3, huggingface_hub 0.36.2, numpy 1.24.2, Python 3.11.2, installed with
  /usr/bin/python3 -m pip install --user --break-system-packages 'transformers==4.46.3' safetensors
The version is pinned because newer transformers releases require torch 2; pip installs no torch for
4.46 (torch is only an extra). In that version save_pretrained writes model.safetensors by default.
"""
import argparse, json, os, shutil, sys, tempfile

from programs import Programs, Report

SKIPPED = 77
TOLERANCE = 1e-5
SEQ = 100  # the window length and the models' positions: causal attention runs in blocks of 32 rows
# (lib/nn/layers.cpp), so 100 takes the product of every block, a ragged last one included
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
INSTALL = "/usr/bin/python3 -m pip install --user --break-system-packages 'transformers==4.46.3' safetensors"

# transformers must never reach for the network: everything here is a local directory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared 2-core machine (docs/DESIGN.md, "Threads")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("LMPIPE_BIN", os.path.join(SOURCE, "build", "cmd")),
                   help="directory of pretrain, tok-train, tok-encode, make-pairs, shard-cat")
    p.add_argument("--test-bin", default=os.environ.get("LMPIPE_TEST_BIN", os.path.join(SOURCE, "build", "tests")),
                   help="directory of the gpt_logits test tool")
    p.add_argument("--source", default=os.environ.get("LMPIPE_SOURCE", SOURCE), help="the source tree (for test data)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and print its path")
    return p.parse_args()


class Lmpipe(Programs):
    """The built programs (programs.py), and what this check asks of them."""

    def __init__(self, args, work):
        paths = {name: os.path.join(args.bin, name)
                 for name in ("pretrain", "tok-train", "tok-encode", "make-pairs", "shard-cat", "sample")}
        paths["gpt_logits"] = os.path.join(args.test_bin, "gpt_logits")
        super().__init__("check_transformers", work, paths)

    def logits(self, ckpt, ids):
        self.run("gpt_logits", ckpt, "logits.json", *ids)
        with open(os.path.join(self.work, "logits.json")) as f:
            return json.load(f)["logits"]

    def eval_loss(self, ckpt):
        return json.loads(self.run("pretrain", "--init-from", ckpt, "--val", "val.shard", "--eval-only", "--threads", "1"))["loss"]


def make_data(lm, source):
    """A byte-level vocabulary (257 ids), training windows from tinyshakespeare, validation windows from the start
    of wikitext-2's validation text (cut at a newline: whole UTF-8 characters)."""
    samples = os.path.join(source, "tests", "data", "tok")
    lm.run("tok-train", "--model", "bpe", "--vocab-size", "257", "-o", "bytes", os.path.join(samples, "tinyshakespeare.txt"))
    for text, shard in (("tinyshakespeare.txt", "train.shard"), ("wikitext2-valid.txt", "val.shard")):
        with open(os.path.join(samples, text), "rb") as f:
            data = f.read(20000 if shard == "train.shard" else 4000)
        ids = lm.run("tok-encode", "-v", "bytes", "-", stdin=data[: data.rindex(b"\n") + 1])
        lm.run("make-pairs", "--task", "causal", "--max-len", SEQ, "--quiet", "-o", shard, "-", stdin=ids)
    lines = lm.run("shard-cat", "--jsonl", "val.shard").decode().splitlines()
    return [json.loads(line)["ids"] for line in lines]


def hf_logits(torch, model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0]


def hf_loss(torch, model, windows):
    """Mean cross-entropy of every target of every window, as `pretrain --eval-only` computes it."""
    w = torch.tensor(windows)
    with torch.no_grad():
        logits = model(w[:, :-1]).logits.double()  # float32 model, float64 reduction like ours
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1)).item()


class Comparisons(Report):
    """The report, with the comparison this check makes."""

    def compare(self, what, torch, ours_logits, theirs_logits, ours_loss, theirs_loss):
        ours_t = torch.tensor(ours_logits)
        scale = theirs_logits.abs().max().item()
        same_shape = ours_t.shape == theirs_logits.shape
        logit_err = (ours_t - theirs_logits).abs().max().item() / scale if same_shape else float("inf")
        loss_err = abs(ours_loss - theirs_loss)
        self.say(logit_err <= TOLERANCE and loss_err <= TOLERANCE,
                 f"{what}: logits max|diff|/max|logit| {logit_err:.2e} (max|logit| {scale:.3g}), "
                 f"val loss {ours_loss:.7f} vs {theirs_loss:.7f} (|diff| {loss_err:.2e})")


def check_ours_in_transformers(torch, transformers, lm, report, arch, windows):
    """pretrain --arch ARCH for a few steps; transformers loads run/latest."""
    classes = {"gpt2": transformers.GPT2LMHeadModel, "openai-gpt": transformers.OpenAIGPTLMHeadModel}
    expected_type = {"gpt": "gpt2", "gpt1": "openai-gpt"}[arch]
    run = f"run-{arch}"
    lm.run("pretrain", "--arch", arch, "--preset", "gpt-nano", "--max-len", str(SEQ), "--data", "train.shard", "--batch-size", "4",
           "--warmup", "2", "--lr", "3e-3", "--steps", "20", "--threads", "1", "-v", "bytes", "-o", run, "--quiet")
    ckpt = os.path.join(run, "latest")
    with open(os.path.join(lm.work, ckpt, "config.json")) as f:
        model_type = json.load(f).get("model_type")
    if model_type != expected_type:
        report.say(False, f"lmpipe --arch {arch} -> transformers: config.json's model_type is {model_type!r}, "
                          f"not {expected_type!r}")
        return
    cls = classes[model_type]
    try:
        model, info = cls.from_pretrained(os.path.join(lm.work, ckpt), output_loading_info=True)
    except Exception as e:  # a checkpoint transformers cannot read is this check's failure, not a crash
        report.say(False, f"lmpipe --arch {arch} -> {cls.__name__}.from_pretrained: {type(e).__name__}: {e}")
        return
    # A missing tensor would be initialised at random and only show as a logit mismatch: name it instead.
    untidy = {k: v for k, v in info.items() if v}
    if untidy:
        report.say(False, f"lmpipe --arch {arch} -> {cls.__name__}: loading info {untidy}")
    model.eval()
    ids = windows[0][:SEQ]
    report.compare(f"lmpipe --arch {arch} -> {cls.__name__}", torch, lm.logits(ckpt, ids), hf_logits(torch, model, ids),
                   lm.eval_loss(ckpt), hf_loss(torch, model, windows))
    check_generation(torch, lm, report, f"lmpipe --arch {arch}", ckpt, model)


def check_generation(torch, lm, report, what, ckpt, model):
    """Greedy continuation of a prompt: sample's ids against transformers' generate() on the same weights."""
    prompt, new = "ROMEO:", SEQ - 8
    ours = json.loads(lm.run("sample", ckpt, "--prompt", prompt, "--greedy", "--max-new-tokens", new, "--json",
                             "--threads", "1"))
    prompt_ids = [int(i) for i in lm.run("tok-encode", "-v", "bytes", "--format", "ids", "-", stdin=prompt.encode()).split()]
    # generate() itself cannot run here: it imports torch.distributed.fsdp, which Debian's torch 1.13 cannot
    # import under Python 3.11. The same greedy loop, over the model's own KV cache (past_key_values) where it
    # has one (GPT-2; OpenAI GPT has none: the whole sequence again each step):
    theirs, eos = [], model.config.eos_token_id  # sample stops at <|endoftext|> and leaves it out
    cached = "use_cache" in model.config.to_dict()
    with torch.no_grad():
        out = model(torch.tensor([prompt_ids]), **({"use_cache": True} if cached else {}))
        for _ in range(new):
            token = int(out.logits[0, -1].argmax())
            if token == eos:
                break
            theirs.append(token)
            if cached:
                out = model(torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
            else:
                out = model(torch.tensor([prompt_ids + theirs]))
    report.say(ours["ids"] == theirs, f"{what}: sample --greedy = greedy decoding in transformers, {new} tokens: "
                                      f"{ours['ids'] if ours['ids'] != theirs else 'same ids'}"
                                      f"{'' if ours['ids'] == theirs else f' vs {theirs}'}")


def perturb(torch, model):
    """Random init leaves biases 0 and layer norms 1, where a swapped or transposed tensor would not show."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def check_transformers_in_ours(torch, transformers, lm, report, windows):
    """save_pretrained(dir) of randomly initialised transformers models; lmpipe loads dir."""
    small = dict(vocab_size=257, n_positions=SEQ, n_embd=32, n_layer=2, n_head=2)
    models = {
        # n_inner other than 4 * n_embd, so that key is read too.
        "GPT2LMHeadModel": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(n_inner=96, **small)),
        "OpenAIGPTLMHeadModel": lambda: transformers.OpenAIGPTLMHeadModel(transformers.OpenAIGPTConfig(**small)),
    }
    for name, make in models.items():
        torch.manual_seed(1)
        model = perturb(torch, make())
        saved = f"hf-{name}"
        model.save_pretrained(os.path.join(lm.work, saved))  # the installed version's default format
        files = sorted(os.listdir(os.path.join(lm.work, saved)))
        if "model.safetensors" not in files:
            report.note(f"{name}.save_pretrained writes {files} by default; lmpipe reads safetensors only: "
                             "saving again with safe_serialization=True")
            shutil.rmtree(os.path.join(lm.work, saved))
            model.save_pretrained(os.path.join(lm.work, saved), safe_serialization=True)
        ids = windows[1][:SEQ]
        report.compare(f"{name}.save_pretrained ({', '.join(files)}) -> lmpipe", torch, lm.logits(saved, ids),
                       hf_logits(torch, model, ids), lm.eval_loss(saved), hf_loss(torch, model, windows))

    # The pickle format: lmpipe reads safetensors only and must say so, not misread it.
    model.save_pretrained(os.path.join(lm.work, "hf-bin"), safe_serialization=False)
    r = lm.run("pretrain", "--init-from", "hf-bin", "--val", "val.shard", "--eval-only", expect_failure=True)
    message = r.stderr.decode().strip()
    report.say(r.returncode == 1 and "no model.safetensors" in message,
               f"save_pretrained(safe_serialization=False) -> lmpipe: refused (lmpipe reads safetensors only): {message}")


def main():
    args = parse_args()
    try:
        import transformers
    except ImportError:
        print(f"check_transformers: skipped: transformers is not installed ({INSTALL})")
        return SKIPPED
    try:
        import torch
    except ImportError:
        print("check_transformers: skipped: torch is not installed (apt-get install python3-torch)")
        return SKIPPED
    import safetensors

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    print(f"check_transformers: transformers {transformers.__version__}, torch {torch.__version__}, "
          f"safetensors {safetensors.__version__}, python {sys.version.split()[0]}", flush=True)
    work = tempfile.mkdtemp(prefix="lmpipe-transformers.")
    try:
        lm = Lmpipe(args, work)
        windows = make_data(lm, args.source)
        report = Comparisons()
        for arch in ("gpt", "gpt1"):
            check_ours_in_transformers(torch, transformers, lm, report, arch, windows)
        check_transformers_in_ours(torch, transformers, lm, report, windows)
    finally:
        if args.keep:
            print(f"check_transformers: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"check_transformers: {report.passed} of {report.passed + report.failed} checks match (tolerance {TOLERANCE:g})")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
