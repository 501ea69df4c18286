#!/usr/bin/env python3
"""Multi-step arithmetic word problems as chat data, and the score of a model's answers to them.

  problems.py make --seed S --train N --test M --shots K -o DIR
      DIR/train-steps.jsonl   conversations whose answers work the steps out, then "Answer: N" (what a
                              model that reasons in steps learns from): the question's first sentence,
                              then a line per operation that repeats its sentence and computes it
                              ("Anna buys 7 more apples. 12 + 7 = 19"), so that each step copies its
                              operand from beside the words it repeated
      DIR/train-direct.jsonl  the same problems answered at once: "Answer: N"
      DIR/train-mixed.jsonl   the same problems, each in one of the two styles drawn at random (half of
                              them worked): demonstrations from writers with different habits, which
                              examples/rlhf starts from
      DIR/test.jsonl          held-out problems (none of them in the training split): the user's question
                              and, under "answer", the number
      DIR/shots.txt           K solved training problems for few-shot prompting (sample --shots), the
                              question on the first line and the worked answer on the next ones
      DIR/questions.txt       the test questions, one a line (sample --batch-file)
  problems.py score test.jsonl ANSWERS [ANSWERS...]
      exact-match accuracy of the final answer: the number after the last "Answer:" of each reply, against
      test.jsonl's answer. ANSWERS are JSON lines with "reply" (sample --messages) or "text" (sample --json),
      in test.jsonl's order; prints one JSON object: {"FILE": {"correct", "total", "accuracy"}, ...}.

A problem is a start and two or three operations (buys, gives away, finds, loses, doubles) on small numbers,
with every intermediate count between 0 and 99. Only Python's standard library; the same seed gives the
same files.
"""
import argparse, json, os, random, re, sys

NAMES = ["Anna", "Ben", "Carla", "David", "Ella", "Finn", "Grace", "Hugo", "Iris", "Jack", "Kate", "Leo", "Mia",
         "Noah", "Olga", "Paul", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yara", "Zoe"]
THINGS = ["apples", "books", "coins", "eggs", "marbles", "pencils", "shells", "stamps", "stickers", "cards"]
SYSTEM = "Solve the problem."


def operations(rng, name, thing):
    """(sentence, operator, operand) choices for a count."""
    n = rng.randint(2, 19)
    return rng.choice([
        (f"{name} buys {n} more {thing}.", "+", n),
        (f"{name} finds {n} {thing}.", "+", n),
        (f"{name} gets {n} {thing} from a friend.", "+", n),
        (f"{name} gives away {n} {thing}.", "-", n),
        (f"{name} loses {n} {thing}.", "-", n),
        (f"{name} sells {n} {thing}.", "-", n),
        (f"The number of {thing} {name} has doubles.", "*", 2),
    ])


def problem(rng):
    """A problem whose every count stays in 0..99: (question, steps, answer)."""
    while True:
        name, thing = rng.choice(NAMES), rng.choice(THINGS)
        count = rng.randint(2, 40)
        sentences, steps = [f"{name} has {count} {thing}."], []
        for _ in range(rng.randint(2, 3)):
            sentence, op, n = operations(rng, name, thing)
            new = count + n if op == "+" else count - n if op == "-" else count * n
            if not 0 <= new <= 99:
                break
            sentences.append(sentence)
            steps.append(f"{sentence} {count} {op} {n} = {new}")
            count = new
        else:
            question = " ".join(sentences) + f" How many {thing} does {name} have now?"
            return question, [sentences[0]] + steps, count


def conversation(question, answer):
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}


def make(args):
    rng = random.Random(args.seed)
    seen, train, test = set(), [], []
    while len(test) < args.test:  # the test split first: the training split leaves its questions out
        q = problem(rng)
        if q[0] not in seen:
            seen.add(q[0])
            test.append(q)
    while len(train) < args.train:
        q = problem(rng)
        if q[0] not in seen:
            seen.add(q[0])
            train.append(q)
    os.makedirs(args.output, exist_ok=True)
    worked = lambda steps, answer: "\n".join(steps + [f"Answer: {answer}"])

    def write(name, lines):
        with open(os.path.join(args.output, name), "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)

    write("train-steps.jsonl", (json.dumps(conversation(q, worked(s, a))) for q, s, a in train))
    write("train-direct.jsonl", (json.dumps(conversation(q, f"Answer: {a}")) for q, s, a in train))
    style = random.Random(args.seed + 1)  # its own draws: the other files stay as they were
    write("train-mixed.jsonl", (json.dumps(conversation(q, worked(s, a) if style.random() < 0.5 else f"Answer: {a}"))
                                for q, s, a in train))
    write("test.jsonl", (json.dumps({"messages": [{"role": "system", "content": SYSTEM},
                                                  {"role": "user", "content": q}], "answer": a}) for q, s, a in test))
    write("shots.txt", [f"{q}\n{worked(s, a)}\n" for q, s, a in train[:args.shots]])
    write("questions.txt", (q for q, s, a in test))


def final_answer(text):
    found = re.findall(r"Answer:\s*(-?\d+)", text)
    return int(found[-1]) if found else None


def score(args):
    with open(args.test, encoding="utf-8") as f:
        truth = [json.loads(line)["answer"] for line in f if line.strip()]
    result = {}
    for path in args.answers:
        with open(path, encoding="utf-8") as f:
            replies = [json.loads(line) for line in f if line.strip()]
        if len(replies) != len(truth):
            sys.exit(f"problems.py: error: {path}: {len(replies)} answers for {len(truth)} problems")
        correct = sum(final_answer(r.get("reply", r.get("text", ""))) == t for r, t in zip(replies, truth))
        result[os.path.basename(path)] = {"correct": correct, "total": len(truth),
                                          "accuracy": round(correct / len(truth), 4)}
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="write the problems")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--train", type=int, default=20000)
    m.add_argument("--test", type=int, default=500)
    m.add_argument("--shots", type=int, default=3)
    m.add_argument("-o", "--output", default=".")
    s = sub.add_parser("score", help="exact-match accuracy of final answers")
    s.add_argument("test")
    s.add_argument("answers", nargs="+")
    args = p.parse_args()
    make(args) if args.command == "make" else score(args)


if __name__ == "__main__":
    main()
