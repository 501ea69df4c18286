#!/usr/bin/env python3
"""A simulated labeller for the arithmetic word problems of examples/chat, and the files around it.

The labeller's rule, which a reader can check: a reply's final answer is the number after its last "Answer:"
(examples/chat/problems.py's final_answer); a reply is right when that is the problem's answer. Of two replies
the labeller prefers the one whose final answer is nearer the problem's (so a right one over a wrong one), and
any final answer over none; it has no preference between equally near ones.

  labeller.py prompts TRAIN.jsonl --first A --count N        N training problems from the A-th as prompts:
                                                            {"messages": [system, user], "answer": N}
  labeller.py repeat PROMPTS --times K                      each prompt K times in a row (K samples of each)
  labeller.py pairs PROMPTS SAMPLES [SAMPLES ...] --val-every K -o DIR
      the labeller compares the samples of each prompt (sample --messages outputs, in PROMPTS' order): every
      pair of different replies it prefers one of goes to DIR/train.jsonl as {"prompt", "chosen", "rejected"},
      a prompt's pairs on consecutive lines (make-prefs makes them one record, as InstructGPT trains on all
      K-choose-2 comparisons of a prompt together), every K-th prompt's pairs to DIR/val.jsonl instead;
      prints the counts as JSON
  labeller.py conversations SAMPLES                       each sample as a conversation ending with its reply,
                                                          for sample --score
  labeller.py best-of PROMPTS --samples S [S ...] --rewards R [R ...]
                                                          per prompt, the sample the reward model scores
                                                          highest (the first of equals), as sample --messages
                                                          writes samples
  labeller.py tilt PROMPTS --per-problem K --samples S [S ...] --rewards R [R ...] --beta B [B ...]
                                                          the policy the KL-penalised reward is highest for,
                                                          pi(y) ~ pi_SFT(y) exp(r(y) / B), estimated on each
                                                          problem's SFT samples: its labeller's score and KL
                                                          to the SFT model, per B, as JSON lines
  labeller.py kl SELF REFERENCE                           the mean over samples of log pi - log ref (sample
                                                          --score outputs of one model's samples under it and
                                                          under the reference)
  labeller.py table --rm-eval RM.json --per-problem K --row NAME SAMPLES KL [--row ...] PROMPTS
                                                          the labeller's mean score of each row's samples (K
                                                          in a row of each problem), its standard error over
                                                          the problems, and the KL to the SFT model, as JSON
                                                          (for the README)

Only Python's standard library.
"""
import argparse, json, math, os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chat"))
from problems import final_answer  # noqa: E402


def fail(what):
    sys.exit(f"labeller.py: error: {what}")


def read_jsonl(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    rows.append(json.loads(line))
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        fail(f"{path}:{number}: not a JSON line ({e})")
    return rows


def first_row(path):
    """The first JSON line of a file that holds one record (a kl or an --eval-only output)."""
    rows = read_jsonl(path)
    if not rows:
        fail(f"{path}: empty")
    return rows[0]


def scored_samples(args, command):
    """The prompts, the sample files (a line per prompt each) and the reward files beside them."""
    prompt_rows = read_jsonl(args.prompts)
    samples = [read_jsonl(p) for p in args.samples]
    rewards = [[r["reward"] for r in read_jsonl(p)] for p in args.rewards]
    n = len(prompt_rows)
    if not n or len(samples) != len(rewards) or any(len(x) != n for x in samples + rewards):
        fail(f"{command} needs as many reward files as sample files, a line per prompt each")
    return prompt_rows, samples, rewards


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def right(reply, answer):
    return final_answer(reply) == answer


def distance(reply, answer):
    """How far the reply's final answer is from the problem's (None: no final answer, the worst)."""
    given = final_answer(reply)
    return abs(given - answer) if given is not None else None


def preference_key(reply, answer):
    """Smaller is preferred: a final answer nearer the truth, and any final answer before none."""
    d = distance(reply, answer)
    return (1, 0) if d is None else (0, d)


def prompts(args):
    for r in read_jsonl(args.train)[args.first:args.first + args.count]:
        messages = r["messages"]
        print(json.dumps({"messages": messages[:-1], "answer": final_answer(messages[-1]["content"])},
                         ensure_ascii=False))


def repeat(args):
    for r in read_jsonl(args.prompts):
        for _ in range(args.times):
            print(json.dumps(r, ensure_ascii=False))


def pairs(args):
    prompt_rows = read_jsonl(args.prompts)
    samples = [read_jsonl(p) for p in args.samples]
    for path, rows in zip(args.samples, samples):
        if len(rows) != len(prompt_rows):
            fail(f"{path}: {len(rows)} samples for {len(prompt_rows)} prompts")
    train, val, right_over_wrong, no_preference, with_pairs = [], [], 0, 0, 0
    for i, p in enumerate(prompt_rows):
        key = lambda r: preference_key(r, p["answer"])  # noqa: E731
        replies = sorted(dict.fromkeys(s[i]["reply"] for s in samples), key=key)
        found = [{"prompt": p["messages"], "chosen": a, "rejected": b}
                 for n, a in enumerate(replies) for b in replies[n + 1:] if key(a) < key(b)]
        if not found:
            no_preference += 1
            continue
        right_over_wrong += sum(right(x["chosen"], p["answer"]) and not right(x["rejected"], p["answer"])
                                for x in found)
        (val if with_pairs % args.val_every == args.val_every - 1 else train).extend(found)
        with_pairs += 1
    os.makedirs(args.output, exist_ok=True)
    write_jsonl(os.path.join(args.output, "train.jsonl"), train)
    write_jsonl(os.path.join(args.output, "val.jsonl"), val)
    print(json.dumps({"prompts": len(prompt_rows), "train_pairs": len(train), "val_pairs": len(val),
                      "right_over_wrong": right_over_wrong, "no_preference": no_preference}))


def conversations(args):
    for s in read_jsonl(args.samples):
        print(json.dumps({"messages": s["messages"] + [{"role": "assistant", "content": s["reply"]}]},
                         ensure_ascii=False))


def best_of(args):
    prompt_rows, samples, rewards = scored_samples(args, "best-of")
    for i in range(len(prompt_rows)):
        best = max(range(len(samples)), key=lambda k: (rewards[k][i], -k))
        print(json.dumps(samples[best][i], ensure_ascii=False))


def tilt(args):
    """RL with a KL penalty of coefficient beta maximises E[r] - beta KL(pi || pi_SFT), whose maximum is
    pi_SFT(y) exp(r(y) / beta) / Z (Korbak et al. 2022, Rafailov et al. 2023). Over a problem's samples of
    pi_SFT (every file's, of its K lines) the weights q = exp(r / beta) / sum give its expected labeller score
    (self-normalised importance sampling) and sum q log(M q), M samples, its KL to pi_SFT."""
    prompt_rows, samples, rewards = scored_samples(args, "tilt")
    n, k = len(prompt_rows), args.per_problem
    if k < 1 or n % k:
        fail(f"{args.prompts}: {n} prompts are not {k} (at least 1) of each of some problems")
    for beta in args.beta:
        if not beta > 0:
            fail(f"--beta {beta}: must be above 0")
        score = kl_sum = 0.0
        for first in range(0, n, k):
            lines = range(first, first + k)
            r = [rs[i] for rs in rewards for i in lines]
            ok = [right(s[i]["reply"], prompt_rows[i]["answer"]) for s in samples for i in lines]
            top = max(r)
            weights = [math.exp((x - top) / beta) for x in r]
            total = sum(weights)
            q = [w / total for w in weights]
            score += sum(qi * o for qi, o in zip(q, ok))
            kl_sum += sum(qi * math.log(qi * len(q)) for qi in q if qi > 0)
        print(json.dumps({"beta": beta, "score": round(score * k / n, 4), "kl": round(kl_sum * k / n, 4)}))


def kl(args):
    own, ref = read_jsonl(args.self), read_jsonl(args.reference)
    if len(own) != len(ref) or not own:
        fail(f"{args.self}, {args.reference}: kl needs a log-probability of each sample under both models")
    print(json.dumps({"kl": sum(a["logprob"] - b["logprob"] for a, b in zip(own, ref)) / len(own),
                      "samples": len(own)}))


def kl_value(spec):
    """A row's KL: a number (best-of-N's bound), or the kl of a file the kl command wrote."""
    try:
        return float(spec)
    except ValueError:
        return first_row(spec)["kl"]


def table(args):
    truth = [p["answer"] for p in read_jsonl(args.prompts)]
    k = args.per_problem
    if k < 1 or not truth or len(truth) % k:
        fail(f"{args.prompts}: {len(truth)} prompts are not {k} (at least 1) of each of some problems")
    problems = len(truth) // k
    rows = []
    for name, samples_path, kl_spec in args.row:
        replies = read_jsonl(samples_path)
        if len(replies) != len(truth):
            fail(f"{samples_path}: {len(replies)} samples for {len(truth)} prompts")
        scores = [right(r["reply"], t) for r, t in zip(replies, truth)]
        per_problem = [sum(scores[i * k:(i + 1) * k]) / k for i in range(problems)]
        mean = sum(per_problem) / problems
        # The standard error over problems: a problem's samples are not independent of each other.
        se = (sum((x - mean) ** 2 for x in per_problem) / max(problems - 1, 1) / problems) ** 0.5
        kl_to_sft = kl_value(kl_spec)
        rows.append({"model": name, "score": round(mean, 4), "score_se": round(se, 4),
                     "kl_to_sft": round(kl_to_sft, 3) + 0.0})  # no -0.0
    rm = first_row(args.rm_eval)
    print(json.dumps({"problems": problems, "samples_per_problem": k,
                      "reward_model_val_accuracy": round(rm["accuracy"], 4), "reward_model_val_pairs": rm["pairs"],
                      "rows": rows}, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("prompts")
    s.add_argument("train")
    s.add_argument("--first", type=int, default=0)
    s.add_argument("--count", type=int, required=True)
    s = sub.add_parser("repeat")
    s.add_argument("prompts")
    s.add_argument("--times", type=int, required=True)
    s = sub.add_parser("pairs")
    s.add_argument("prompts")
    s.add_argument("samples", nargs="+")
    s.add_argument("--val-every", type=int, default=10)
    s.add_argument("-o", "--output", required=True)
    s = sub.add_parser("conversations")
    s.add_argument("samples")
    s = sub.add_parser("best-of")
    s.add_argument("prompts")
    s.add_argument("--samples", nargs="+", required=True)
    s.add_argument("--rewards", nargs="+", required=True)
    s = sub.add_parser("tilt")
    s.add_argument("prompts")
    s.add_argument("--samples", nargs="+", required=True)
    s.add_argument("--rewards", nargs="+", required=True)
    s.add_argument("--per-problem", type=int, default=1)
    s.add_argument("--beta", nargs="+", type=float, required=True)
    s = sub.add_parser("kl")
    s.add_argument("self")
    s.add_argument("reference")
    s = sub.add_parser("table")
    s.add_argument("prompts")
    s.add_argument("--rm-eval", required=True)
    s.add_argument("--per-problem", type=int, default=1)
    s.add_argument("--row", nargs=3, action="append", metavar=("NAME", "SAMPLES", "KL"), required=True)
    args = p.parse_args()
    {"prompts": prompts, "repeat": repeat, "pairs": pairs, "conversations": conversations, "best-of": best_of,
     "tilt": tilt, "kl": kl, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
