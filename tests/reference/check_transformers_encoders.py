#!/usr/bin/python3
"""Interoperability with HuggingFace transformers, both ways, on tiny BERT and RoBERTa models:

  lmpipe -> transformers  `pretrain --arch bert --preset bert-tiny` trains a few steps on NSP pairs of
                          tinyshakespeare (bert-base-uncased ids) masked by mask-corpus; BertForPreTraining
                          .from_pretrained(run/latest) must load every tensor (only the decoder tied to the word
                          embeddings may be missing) and give the MLM and NSP losses and accuracies that
                          `pretrain --eval-only` prints on a masked validation shard. The same for
                          `pretrain --arch roberta` (a byte-level BPE trained by tok-train, full-sentences
                          pairs) and RobertaForMaskedLM, on a statically masked validation shard (pretrain
                          uses the masks of a masked shard as they are: the comparison is deterministic).
  transformers -> lmpipe  randomly initialised (and perturbed, so biases and layer norms are not 0 and 1)
                          BertForPreTraining and RobertaForMaskedLM are saved with save_pretrained(dir);
                          `pretrain --init-from dir --eval-only` must give transformers' losses and accuracies
                          on the same validation shards. RobertaConfig keeps its default layer_norm_eps
                          (1e-12, where lmpipe's own RoBERTa checkpoints say 1e-5): reading 1e-5 instead moves
                          this loss by about 2.5e-5, so config.json's value must be used.

The transformers side is computed here from the shard's records (shard-cat --jsonl): each batch of 8 is padded
to its longest sequence (BERT pad id 0, RoBERTa <pad> = 1), attention_mask 1 on real tokens, BERT
token_type_ids 0 through the first [SEP] (positions 0..len_a+1) and 1 after, MLM labels the original ids at
the masked positions; NSP label 0 = B follows A (transformers' convention), 1 = random B. lmpipe pads every
batch to the shard's max-len instead: with attention masking the results are the same.

Metrics, from transformers' float32 logits reduced in float64 (model.eval(): no dropout):
  mlm_loss  mean cross-entropy over every masked position of the whole validation shard
  mlm_acc   the share of masked positions whose argmax is the original id
  nsp_loss  mean NSP cross-entropy over the sequences (BERT);  nsp_acc the share predicted right
  loss      mlm_loss + nsp_loss (BERT), mlm_loss (RoBERTa)
Losses must agree to 1e-5 (absolute); accuracies exactly, or within one position (one sequence for NSP)
where the two top logits are within 1e-4 of each other (a tie float rounding may break either way: reported).

Run with Debian's python (torch from python3-torch):
  /usr/bin/python3 tests/reference/check_transformers_encoders.py [--bin build/cmd] [--source .] [--keep]
CTest runs it as `reference_transformers_encoders`. Exit status: 0 all match, 1 a mismatch or an error, 77
skipped (transformers or torch is not installed). Needs no network. About 10 s on 2 cores.

Checked with transformers 4.46.3, torch 1.13.0a0 (Debian 12's python3-torch), safetensors 0.8.0,
tokenizers 0.20.3, huggingface_hub 0.36.2, numpy 1.24.2, Python 3.11.2, installed with
  /usr/bin/python3 -m pip install --user --break-system-packages 'transformers==4.46.3' safetensors
The version is pinned because newer transformers releases require torch 2; pip installs no torch for
4.46 (torch is only an extra). In that version save_pretrained writes model.safetensors by default, and
BERT and RoBERTa use eager attention (SDPA needs torch >= 2.1.1).
"""
import argparse, json, os, shutil, sys, tempfile

from programs import Programs, Report

SKIPPED = 77
TOLERANCE = 1e-5
TIE = 1e-4  # two top logits this close: float rounding may pick either
SEQ = 32  # make-pairs --max-len
BATCH = 8
THREADS = 2
TRAIN_LINES, VAL_LINES = 600, 300
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
INSTALL = "/usr/bin/python3 -m pip install --user --break-system-packages 'transformers==4.46.3' safetensors"
NAME = "check_transformers_encoders"

# transformers must never reach for the network: everything here is a local directory.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared 2-core machine (docs/DESIGN.md, "Threads")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("LMPIPE_BIN", os.path.join(SOURCE, "build", "cmd")),
                   help="directory of pretrain, tok-train, tok-encode, make-pairs, mask-corpus, shard-cat")
    p.add_argument("--source", default=os.environ.get("LMPIPE_SOURCE", SOURCE), help="the source tree (for test data)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and print its path")
    return p.parse_args()


class Lmpipe(Programs):
    """The built programs (programs.py), and what this check asks of them."""

    def __init__(self, args, work):
        names = ("pretrain", "tok-train", "tok-encode", "make-pairs", "mask-corpus", "shard-cat")
        super().__init__(NAME, work, {name: os.path.join(args.bin, name) for name in names})

    def records(self, shard):
        return [json.loads(line) for line in self.run("shard-cat", "--jsonl", shard).decode().splitlines()]

    def eval(self, arch, ckpt, shard):
        return json.loads(self.run("pretrain", "--arch", arch, "--init-from", ckpt, "--val", shard, "--eval-only",
                                   "--batch-size", BATCH, "--threads", THREADS))


def make_data(lm, source):
    """Train and validation text: consecutive lines of tinyshakespeare. BERT: bert-base-uncased ids, NSP pairs,
    masked by mask-corpus. RoBERTa: a byte-level BPE of the training text, full-sentences pairs; the
    validation pairs masked once by mask-corpus."""
    with open(os.path.join(source, "tests", "data", "tok", "tinyshakespeare.txt"), "rb") as f:
        lines = f.read().splitlines(keepends=True)
    for name, part in (("train.txt", lines[:TRAIN_LINES]), ("val.txt", lines[TRAIN_LINES:TRAIN_LINES + VAL_LINES])):
        with open(os.path.join(lm.work, name), "wb") as f:
            f.write(b"".join(part))
    for split in ("train", "val"):
        lm.pipe(("tok-encode", "--docs", "-v", "bert-base-uncased", "--quiet", f"{split}.txt"),
                ("make-pairs", "--task", "nsp", "--max-len", SEQ, "--quiet"),
                ("mask-corpus", "--seed", "1", "--quiet", "-o", f"bert-{split}.masked"))
    lm.run("tok-train", "--model", "bpe", "--vocab-size", "500", "--special-tokens", "<s>,<pad>,</s>,<unk>,<mask>",
           "--quiet", "-o", "bpe", "train.txt")
    for split in ("train", "val"):
        lm.pipe(("tok-encode", "--docs", "-v", "bpe", "--quiet", f"{split}.txt"),
                ("make-pairs", "--task", "full-sentences", "--max-len", SEQ, "--quiet", "-o", f"roberta-{split}.pairs"))
    lm.run("mask-corpus", "--seed", "1", "--quiet", "-o", "roberta-val.masked", "roberta-val.pairs")


def hf_metrics(torch, model, records, arch):
    """The metrics `pretrain --eval-only` prints, from transformers' logits on RECORDS in batches of BATCH."""
    pad = 0 if arch == "bert" else 1
    F = torch.nn.functional
    mlm_sum = nsp_sum = 0.0
    mlm_right = nsp_right = masked = 0
    mlm_ties = nsp_ties = 0  # wrong or right by a hair
    for start in range(0, len(records), BATCH):
        batch = records[start:start + BATCH]
        width = max(len(r["ids"]) for r in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        types = torch.zeros((len(batch), width), dtype=torch.long)
        for row, r in enumerate(batch):
            n = len(r["ids"])
            ids[row, :n] = torch.tensor(r["ids"])
            attention[row, :n] = 1
            labels[row, r["positions"]] = torch.tensor(r["labels"])
            if arch == "bert":
                types[row, r["len_a"] + 2:n] = 1  # [CLS] A [SEP]: 0; B [SEP]: 1
        with torch.no_grad():
            if arch == "bert":
                out = model(input_ids=ids, attention_mask=attention, token_type_ids=types)
                mlm_logits = out.prediction_logits
            else:
                out = model(input_ids=ids, attention_mask=attention)
                mlm_logits = out.logits
        chosen = labels != -100
        logits = mlm_logits[chosen].double()
        target = labels[chosen]
        mlm_sum += F.cross_entropy(logits, target, reduction="sum").item()
        mlm_right += int((logits.argmax(-1) == target).sum())
        top2 = logits.topk(2, dim=-1).values
        mlm_ties += int((top2[:, 0] - top2[:, 1] < TIE).sum())
        masked += len(target)
        if arch == "bert":
            nsp_target = torch.tensor([0 if r["is_next"] == 1 else 1 for r in batch])
            nsp_logits = out.seq_relationship_logits.double()
            nsp_sum += F.cross_entropy(nsp_logits, nsp_target, reduction="sum").item()
            nsp_right += int((nsp_logits.argmax(-1) == nsp_target).sum())
            nsp_ties += int(((nsp_logits[:, 0] - nsp_logits[:, 1]).abs() < TIE).sum())
    m = {"mlm_loss": mlm_sum / masked, "mlm_acc": mlm_right / masked, "loss": mlm_sum / masked,
         "sequences": len(records), "masked": masked, "ties": {"mlm_acc": mlm_ties}}
    if arch == "bert":
        m.update(nsp_loss=nsp_sum / len(records), nsp_acc=nsp_right / len(records))
        m["loss"] += m["nsp_loss"]
        m["ties"]["nsp_acc"] = nsp_ties
    return m


class Comparisons(Report):
    """The report, with the comparison this check makes."""

    def compare(self, what, ours, theirs):
        """Every metric of THEIRS (transformers) against OURS (pretrain --eval-only)."""
        for key in ("sequences", "masked"):
            if ours.get(key) != theirs[key]:
                self.say(False, f"{what}: {key}: {ours.get(key)} vs {theirs[key]} (not the same examples)")
                return
        keys = ["mlm_loss", "mlm_acc"] + (["nsp_loss", "nsp_acc"] if "nsp_loss" in theirs else []) + ["loss"]
        extra = sorted(set(ours) - set(keys) - {"sequences", "masked"})
        if extra:
            self.note(f"{what}: pretrain --eval-only also prints {extra}")
        for key in keys:
            if key not in ours:
                self.say(False, f"{what}: {key}: missing from pretrain --eval-only's {sorted(ours)}")
                continue
            o, t = float(ours[key]), float(theirs[key])
            diff = abs(o - t)
            if key.endswith("_acc"):
                count = theirs["masked"] if key == "mlm_acc" else theirs["sequences"]
                apart = round(diff * count)  # positions (sequences) predicted differently
                ties = theirs["ties"][key]
                ok = apart == 0 or (apart <= 1 and ties > 0)
                tail = f"{apart} of {count} apart" + (f", {ties} near-ties (top-2 logits within {TIE:g})" if ties else "")
                self.say(ok, f"{what}: {key:8s} ours {o:.7f} theirs {t:.7f} |diff| {diff:.2e} ({tail})")
            else:
                self.say(diff <= TOLERANCE, f"{what}: {key:8s} ours {o:.7f} theirs {t:.7f} |diff| {diff:.2e}")


def load(report, cls, path, allowed_missing):
    """cls.from_pretrained(path), every tensor read: a missing one would be initialised at random and only show
    as a loss mismatch, so name it instead. Returns None (a failed check) when it cannot load."""
    try:
        model, info = cls.from_pretrained(path, output_loading_info=True)
    except Exception as e:  # a checkpoint transformers cannot read is this check's failure, not a crash
        report.say(False, f"{cls.__name__}.from_pretrained({os.path.basename(os.path.dirname(path))}/latest): "
                          f"{type(e).__name__}: {e}")
        return None
    untidy = {k: [n for n in v if not (k == "missing_keys" and n in allowed_missing)] for k, v in info.items()}
    untidy = {k: v for k, v in untidy.items() if v}
    report.say(not untidy, f"{cls.__name__}.from_pretrained: every tensor read"
                           + (f": {untidy}" if untidy else f" (tied, not stored: {sorted(set(info['missing_keys']))})"
                              if info["missing_keys"] else ""))
    return model.float().eval()


BERT_TIED = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
ROBERTA_TIED = {"lm_head.decoder.weight", "lm_head.decoder.bias"}


def check_ours_in_transformers(torch, transformers, lm, report):
    """pretrain --arch bert / roberta for a few steps; transformers loads the checkpoint."""
    lm.run("pretrain", "--arch", "bert", "--preset", "bert-tiny", "--data", "bert-train.masked", "--steps", 5,
           "--batch-size", BATCH, "--lr", "1e-3", "--warmup", 1, "--threads", THREADS, "--quiet", "-o", "run")
    lm.run("pretrain", "--arch", "roberta", "--n-layer", 2, "--n-head", 2, "--d-model", 64, "--max-len", SEQ,
           "--data", "roberta-train.pairs", "--steps", 5, "--batch-size", BATCH, "--lr", "1e-3", "--warmup", 1,
           "--threads", THREADS, "-v", "bpe", "--quiet", "-o", "rrun")
    cases = (("bert", "run", transformers.BertForPreTraining, "bert", BERT_TIED),
             ("roberta", "rrun", transformers.RobertaForMaskedLM, "roberta", ROBERTA_TIED))
    for arch, run, cls, model_type, tied in cases:
        ckpt = os.path.join(run, "latest")
        with open(os.path.join(lm.work, ckpt, "config.json")) as f:
            config = json.load(f)
        if config.get("model_type") != model_type:
            report.say(False, f"lmpipe --arch {arch}: config.json's model_type is {config.get('model_type')!r}, "
                              f"not {model_type!r}")
            continue
        report.note(f"lmpipe --arch {arch} -> {cls.__name__}: {config['num_hidden_layers']} layers, width "
                    f"{config['hidden_size']}, {config['num_attention_heads']} heads, vocab {config['vocab_size']}, "
                    f"positions {config['max_position_embeddings']}, layer_norm_eps {config['layer_norm_eps']:g}")
        model = load(report, cls, os.path.join(lm.work, ckpt), tied)
        if model is None:
            continue
        shard = f"{arch}-val.masked"
        report.compare(f"lmpipe --arch {arch} -> {cls.__name__}", lm.eval(arch, ckpt, shard),
                       hf_metrics(torch, model, lm.records(shard), arch))


def perturb(torch, model):
    """Random init leaves biases 0 and layer norms 1, where a swapped or transposed tensor would not show."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval()


def check_transformers_in_ours(torch, transformers, lm, report):
    """save_pretrained(dir) of randomly initialised transformers models; lmpipe loads dir."""
    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    models = {
        "bert": lambda: transformers.BertForPreTraining(transformers.BertConfig(
            vocab_size=30522, max_position_embeddings=64, type_vocab_size=2, **small)),
        # layer_norm_eps stays the default 1e-12 (lmpipe's RoBERTa checkpoints say 1e-5).
        "roberta": lambda: transformers.RobertaForMaskedLM(transformers.RobertaConfig(
            vocab_size=500, max_position_embeddings=SEQ + 2, type_vocab_size=1, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, **small)),
    }
    for arch, make in models.items():
        torch.manual_seed(1)
        model = perturb(torch, make())
        name = type(model).__name__
        saved = f"hf-{arch}"
        model.save_pretrained(os.path.join(lm.work, saved))  # the installed version's default format
        files = sorted(os.listdir(os.path.join(lm.work, saved)))
        if "model.safetensors" not in files:
            report.note(f"{name}.save_pretrained writes {files} by default; lmpipe reads safetensors only: "
                        "saving again with safe_serialization=True")
            shutil.rmtree(os.path.join(lm.work, saved))
            model.save_pretrained(os.path.join(lm.work, saved), safe_serialization=True)
        shard = f"{arch}-val.masked"
        report.compare(f"{name}.save_pretrained -> lmpipe --arch {arch}", lm.eval(arch, saved, shard),
                       hf_metrics(torch, model, lm.records(shard), arch))


def main():
    args = parse_args()
    try:
        import transformers
    except ImportError:
        print(f"{NAME}: skipped: transformers is not installed ({INSTALL})")
        return SKIPPED
    try:
        import torch
    except ImportError:
        print(f"{NAME}: skipped: torch is not installed (apt-get install python3-torch)")
        return SKIPPED
    import safetensors

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(THREADS)
    print(f"{NAME}: transformers {transformers.__version__}, torch {torch.__version__}, "
          f"safetensors {safetensors.__version__}, python {sys.version.split()[0]}", flush=True)
    work = tempfile.mkdtemp(prefix="lmpipe-transformers-encoders.")
    report = Comparisons()
    try:
        lm = Lmpipe(args, work)
        make_data(lm, args.source)
        check_ours_in_transformers(torch, transformers, lm, report)
        check_transformers_in_ours(torch, transformers, lm, report)
    finally:
        if args.keep:
            print(f"{NAME}: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{NAME}: {report.passed} of {report.passed + report.failed} checks match (tolerance {TOLERANCE:g})")
    if report.failed:
        print(f"{NAME}: error: {report.failed} mismatches (FAIL above)")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
