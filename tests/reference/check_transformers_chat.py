#!/usr/bin/python3
"""The chat path against HuggingFace transformers, on a tiny GPT fine-tuned on conversations:

  tokenizer   tok-train --extend adds <|im_start|> and <|im_end|> to GPT-2's vocabulary; a GPT pretrained on
              GPT-2's vocabulary is fine-tuned (`pretrain --init-from BASE --data CHAT.shard`) and its checkpoint
              loads with AutoTokenizer.from_pretrained, whose apply_chat_template (the checkpoint's
              tokenizer_config.json) must give make-chat's ids and return_assistant_tokens_mask make-chat's
              loss mask, for every conversation of tests/data/chat/conversations.jsonl (Unicode, empty
              contents, many turns, system prompts, contents starting with spaces).
  model       GPT2LMHeadModel.from_pretrained loads every tensor of the grown vocabulary (50259 rows), and
              the mean cross-entropy over the masked-in targets (labels -100 elsewhere, as TRL's SFT
              trainer builds them with assistant_only_loss) equals `pretrain --eval-only` on the chat shard.
  generation  `sample --messages --greedy` replies with the ids of greedy decoding in transformers from
              apply_chat_template(..., add_generation_prompt=True), ending at <|im_end|>.
  preferences make-prefs's prompt ids are apply_chat_template(prompt, add_generation_prompt=True), and a
              reply's are the tokenizer's ids of its content and <|im_end|>, for tests/data/chat/prefs.jsonl;
              a reward model trained from the SFT checkpoint (`pretrain --objective reward`) loads with
              GPT2ForSequenceClassification.from_pretrained, and its rewards, read from right-padded batches
              as transformers pools them (the last token before pad_token_id), give `pretrain --eval-only`'s
              loss (-log sigmoid of the margin), accuracy and mean margin.
  rlhf        a PPO policy (`rlhf` from the SFT and reward models) loads with GPT2LMHeadModel.from_pretrained,
              and `sample --score` gives, for each pair's chosen reply, the log-probability transformers gives
              (the sum of log_softmax over the reply's ids and <|im_end|> after the templated prompt), and the
              reward model's reward GPT2ForSequenceClassification gives.

Tolerance: losses and margins |ours - theirs| at most 1e-5, log-probabilities and rewards 1e-4; ids, masks and
accuracies exact.

Run with Debian's python (torch from python3-torch), like check_transformers.py:
  /usr/bin/python3 tests/reference/check_transformers_chat.py [--bin build/cmd] [--keep]
CTest runs it as `reference_transformers_chat`. Exit status: 0 all match, 1 a mismatch or an error, 77 skipped
(transformers, jinja2 or torch is not installed). Needs no network.
"""
import argparse, json, os, shutil, sys, tempfile

from programs import Programs, Report

SKIPPED = 77
TOLERANCE = 1e-5
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
INSTALL = ("apt-get install python3-torch python3-jinja2; "
           "/usr/bin/python3 -m pip install --user --break-system-packages 'transformers==4.46.3' safetensors")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("LMPIPE_BIN", os.path.join(SOURCE, "build", "cmd")),
                   help="directory of pretrain, tok-train, tok-encode, make-pairs, make-chat, shard-cat, sample")
    p.add_argument("--source", default=os.environ.get("LMPIPE_SOURCE", SOURCE), help="the source tree (for test data)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and print its path")
    return p.parse_args()


def make_checkpoint(lm, source):
    """A gpt-nano on GPT-2's vocabulary, fine-tuned for a few steps on the test conversations in ChatML.
    Returns the checkpoint and the conversations."""
    conversations = os.path.join(source, "tests", "data", "chat", "conversations.jsonl")
    text = os.path.join(source, "tests", "data", "tok", "tinyshakespeare.txt")
    ids = lm.run("tok-encode", "-v", "gpt2", text)
    lm.run("make-pairs", "--task", "causal", "--max-len", "64", "--quiet", "-o", "text.shard", "-", stdin=ids)
    lm.run("pretrain", "--preset", "gpt-nano", "--max-len", "128", "--data", "text.shard", "--batch-size", "4",
           "--steps", "3", "--threads", "1", "-v", "gpt2", "-o", "base", "--quiet")
    lm.run("tok-train", "--extend", "gpt2", "--add-special", "<|im_start|>", "--add-special", "<|im_end|>",
           "-o", "chatml")
    # Whole conversations for the ids; 129 tokens (128 positions) for training and the loss.
    lm.run("make-chat", "-v", "chatml", "-q", "--max-len", "100000", conversations, "-o", "whole.shard")
    lm.run("make-chat", "-v", "chatml", "-q", "--max-len", "129", conversations, "-o", "chat.shard")
    lm.run("pretrain", "--arch", "gpt", "--init-from", "base", "--data", "chat.shard", "--batch-size", "2",
           "--lr", "3e-3", "--steps", "6", "--threads", "1", "-o", "sft", "--quiet")
    with open(conversations, encoding="utf-8") as f:
        messages = [json.loads(line)["messages"] for line in f if line.strip()]
    return os.path.join(lm.work, "sft", "latest"), messages


def records(lm, shard):
    return [json.loads(line) for line in lm.run("shard-cat", "--jsonl", shard).decode().splitlines()]


def check_tokenizer(transformers, lm, report, ckpt, messages):
    tok = transformers.AutoTokenizer.from_pretrained(ckpt)
    ours = records(lm, "whole.shard")
    if len(ours) != len(messages):
        report.say(False, f"make-chat wrote {len(ours)} records for {len(messages)} conversations")
        return tok
    ids_same = mask_same = 0
    for i, (conversation, record) in enumerate(zip(messages, ours)):
        out = tok.apply_chat_template(conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids_same += out["input_ids"] == record["ids"]
        mask_same += out["assistant_masks"] == record["loss_mask"]
        if out["input_ids"] != record["ids"] or out["assistant_masks"] != record["loss_mask"]:
            print(f"    conversation {i}: ids {record['ids']} vs {out['input_ids']}\n"
                  f"    mask {record['loss_mask']} vs {out['assistant_masks']}", flush=True)
    report.say(ids_same == len(ours), f"AutoTokenizer.from_pretrained(checkpoint).apply_chat_template = make-chat's ids: "
                                      f"{ids_same} of {len(ours)} conversations")
    report.say(mask_same == len(ours), f"return_assistant_tokens_mask = make-chat's loss_mask: {mask_same} of {len(ours)}")
    return tok


def check_model(torch, transformers, lm, report, ckpt):
    try:
        model, info = transformers.GPT2LMHeadModel.from_pretrained(ckpt, output_loading_info=True)
    except Exception as e:  # a checkpoint transformers cannot read is this check's failure, not a crash
        report.say(False, f"GPT2LMHeadModel.from_pretrained: {type(e).__name__}: {e}")
        return None
    untidy = {k: v for k, v in info.items() if v}
    rows = model.get_input_embeddings().weight.shape[0]
    report.say(not untidy and rows == 50259,
               f"GPT2LMHeadModel.from_pretrained loads the SFT checkpoint: {rows} embedding rows"
               f"{f', loading info {untidy}' if untidy else ''}")
    model.eval()
    # The masked loss: a target where the next token is masked in (every record is one conversation here).
    total, count = 0.0, 0
    for record in records(lm, "chat.shard"):
        ids, mask = record["ids"], record["loss_mask"]
        labels = torch.tensor([t if m else -100 for t, m in zip(ids[1:], mask[1:])])
        with torch.no_grad():
            logits = model(torch.tensor([ids[:-1]])).logits[0].double()
        total += torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="sum").item()
        count += int((labels != -100).sum())
    theirs = total / count
    ours = json.loads(lm.run("pretrain", "--arch", "gpt", "--init-from", ckpt, "--eval-only", "--val", "chat.shard",
                             "--batch-size", "2", "--threads", "1"))
    err = abs(ours["loss"] - theirs)
    report.say(err <= TOLERANCE and ours["tokens"] == count,
               f"masked loss: pretrain --eval-only {ours['loss']:.7f} over {ours['tokens']} targets, transformers "
               f"{theirs:.7f} over {count} (|diff| {err:.2e})")
    return model


def check_generation(torch, lm, report, ckpt, tok, model):
    prompts = [[{"role": "user", "content": "Hello there"}],
               [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}]]
    new = 24
    with open(os.path.join(lm.work, "prompts.jsonl"), "w", encoding="utf-8") as f:
        for p in prompts:
            f.write(json.dumps({"messages": p}) + "\n")
    ours = [json.loads(line) for line in lm.run("sample", ckpt, "--messages", "prompts.jsonl", "--greedy",
                                                "--max-new-tokens", new, "--threads", "1").decode().splitlines()]
    end = tok.convert_tokens_to_ids("<|im_end|>")
    for p, o in zip(prompts, ours):
        ids = tok.apply_chat_template(p, tokenize=True, add_generation_prompt=True)
        theirs = []
        with torch.no_grad():
            out = model(torch.tensor([ids]), use_cache=True)
            for _ in range(new):
                token = int(out.logits[0, -1].argmax())
                if token == end:
                    break
                theirs.append(token)
                out = model(torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
        same = o["ids"] == theirs
        report.say(same, f"sample --messages --greedy = greedy decoding after apply_chat_template("
                         f"add_generation_prompt=True), {len(p)} messages: "
                         + ("same ids" if same else f"{o['ids']} vs {theirs}"))


def completion_content(value):
    return value if isinstance(value, str) else value[0]["content"]


def check_preferences(torch, transformers, lm, report, source, tok):
    pairs_file = os.path.join(source, "tests", "data", "chat", "prefs.jsonl")
    with open(pairs_file, encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    lm.run("make-prefs", "-v", "chatml", "-q", "--group", "1", "--max-len", "128", pairs_file, "-o", "prefs.shard")
    ours = records(lm, "prefs.shard")
    end = tok.convert_tokens_to_ids("<|im_end|>")
    same = 0
    for pair, record in zip(pairs, ours):
        prompt = pair["prompt"] if isinstance(pair["prompt"], list) else [{"role": "user", "content": pair["prompt"]}]
        want = tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True)
        for key in ("chosen", "rejected"):
            want = want + tok.encode(completion_content(pair[key]), add_special_tokens=False) + [end]
        same += want == record["ids"]
    report.say(same == len(pairs) == len(ours),
               f"make-prefs = apply_chat_template(prompt, add_generation_prompt=True) + the replies' ids and <|im_end|>: "
               f"{same} of {len(pairs)} pairs")

    lm.run("pretrain", "--arch", "gpt", "--objective", "reward", "--init-from", "sft", "--data", "prefs.shard",
           "--batch-size", "2", "--lr", "3e-3", "--steps", "4", "--threads", "1", "-o", "rm", "--quiet")
    ckpt = os.path.join(lm.work, "rm", "latest")
    try:
        model, info = transformers.GPT2ForSequenceClassification.from_pretrained(ckpt, output_loading_info=True)
    except Exception as e:
        report.say(False, f"GPT2ForSequenceClassification.from_pretrained: {type(e).__name__}: {e}")
        return
    untidy = {k: v for k, v in info.items() if v}
    report.say(not untidy and model.config.num_labels == 1 and model.config.pad_token_id is not None,
               f"GPT2ForSequenceClassification.from_pretrained loads the reward model: num_labels "
               f"{model.config.num_labels}, pad_token_id {model.config.pad_token_id}"
               f"{f', loading info {untidy}' if untidy else ''}")
    model.eval()
    pad = model.config.pad_token_id
    sequences = []
    for record in ours:
        prompt = record["part_lens"][0]
        chosen = record["ids"][: prompt + record["part_lens"][1]]
        rejected = record["ids"][:prompt] + record["ids"][prompt + record["part_lens"][1]:]
        sequences += [chosen, rejected]
    longest = max(len(s) for s in sequences)
    batch = torch.tensor([s + [pad] * (longest - len(s)) for s in sequences])
    with torch.no_grad():
        rewards = model(batch).logits[:, 0].double()
    margins = rewards[0::2] - rewards[1::2]
    loss = float(torch.nn.functional.softplus(-margins).mean())
    accuracy = float((margins > 0).double().mean())
    margin = float(margins.mean())
    ev = json.loads(lm.run("pretrain", "--arch", "gpt", "--objective", "reward", "--init-from", ckpt, "--eval-only",
                           "--val", "prefs.shard", "--batch-size", "2", "--threads", "1"))
    ok = (abs(ev["loss"] - loss) <= TOLERANCE and ev["accuracy"] == accuracy and abs(ev["margin"] - margin) <= TOLERANCE
          and ev["pairs"] == len(ours))
    report.say(ok, f"rewards: pretrain --eval-only loss {ev['loss']:.7f}, accuracy {ev['accuracy']}, margin "
                   f"{ev['margin']:.7f} over {ev['pairs']} pairs; transformers {loss:.7f}, {accuracy}, {margin:.7f}")
    return model


def check_rlhf(torch, transformers, lm, report, source, tok, reward_model):
    pairs_file = os.path.join(source, "tests", "data", "chat", "prefs.jsonl")
    with open(pairs_file, encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    lm.run("make-prefs", "-v", "chatml", "-q", "--prompts-only", "--max-len", "96", pairs_file, "-o", "prompts.chat")
    lm.run("rlhf", "--policy", "sft", "--reward", "rm", "--prompts", "prompts.chat", "--iterations", "2",
           "--batch-size", "4", "--minibatch", "2", "--max-new-tokens", "8", "--lr", "1e-4", "--threads", "1",
           "-o", "ppo", "--quiet")
    ckpt = os.path.join(lm.work, "ppo", "latest")
    try:
        model, info = transformers.GPT2LMHeadModel.from_pretrained(ckpt, output_loading_info=True)
    except Exception as e:
        report.say(False, f"GPT2LMHeadModel.from_pretrained of the PPO policy: {type(e).__name__}: {e}")
        return
    untidy = {k: v for k, v in info.items() if v}
    report.say(not untidy, f"GPT2LMHeadModel.from_pretrained loads the PPO policy"
                           f"{f': loading info {untidy}' if untidy else ''}")
    model.eval()
    end = tok.convert_tokens_to_ids("<|im_end|>")
    conversations, theirs, rewards = [], [], []
    for pair in pairs:
        prompt = pair["prompt"] if isinstance(pair["prompt"], list) else [{"role": "user", "content": pair["prompt"]}]
        reply = completion_content(pair["chosen"])
        conversations.append(json.dumps({"messages": prompt + [{"role": "assistant", "content": reply}]}))
        ids = tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True)
        reply_ids = tok.encode(reply, add_special_tokens=False) + [end]
        full = torch.tensor([ids + reply_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(full[:, :-1]).logits[0].double(), -1)
            rewards.append(float(reward_model(full).logits[0, 0]))
        theirs.append(sum(float(logp[len(ids) - 1 + t, token]) for t, token in enumerate(reply_ids)))
    with open(os.path.join(lm.work, "replies.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(conversations) + "\n")
    ours = [json.loads(line)["logprob"] for line in lm.run("sample", ckpt, "--score", "replies.jsonl", "--threads",
                                                           "1").decode().splitlines()]
    worst = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(ours, theirs))
    report.say(len(ours) == len(theirs) and worst <= 1e-4,
               f"sample --score log-probabilities of {len(ours)} replies under the PPO policy: worst relative "
               f"difference {worst:.2e} from transformers")
    ours = [json.loads(line)["reward"] for line in lm.run("sample", "rm/latest", "--score", "replies.jsonl", "--threads",
                                                          "1").decode().splitlines()]
    worst = max(abs(a - b) for a, b in zip(ours, rewards))
    report.say(len(ours) == len(rewards) and worst <= 1e-4,
               f"sample --score rewards of {len(ours)} replies: worst difference {worst:.2e} from "
               f"GPT2ForSequenceClassification")


def main():
    args = parse_args()
    try:
        import jinja2  # noqa: F401 (apply_chat_template needs it)
        import torch
        import transformers
    except ImportError as e:
        print(f"check_transformers_chat: skipped: {e.name} is not installed ({INSTALL})")
        return SKIPPED
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    print(f"check_transformers_chat: transformers {transformers.__version__}, torch {torch.__version__}, "
          f"python {sys.version.split()[0]}", flush=True)
    work = tempfile.mkdtemp(prefix="lmpipe-transformers-chat.")
    try:
        paths = {name: os.path.join(args.bin, name)
                 for name in ("pretrain", "tok-train", "tok-encode", "make-pairs", "make-chat", "make-prefs", "shard-cat",
                              "sample", "rlhf")}
        lm = Programs("check_transformers_chat", work, paths)
        report = Report()
        ckpt, messages = make_checkpoint(lm, args.source)
        tok = check_tokenizer(transformers, lm, report, ckpt, messages)
        model = check_model(torch, transformers, lm, report, ckpt)
        if model is not None:
            check_generation(torch, lm, report, ckpt, tok, model)
        reward_model = check_preferences(torch, transformers, lm, report, args.source, tok)
        if reward_model is not None:
            check_rlhf(torch, transformers, lm, report, args.source, tok, reward_model)
    finally:
        if args.keep:
            print(f"check_transformers_chat: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"check_transformers_chat: {report.passed} of {report.passed + report.failed} checks match")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
