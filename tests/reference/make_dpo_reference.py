#!/usr/bin/python3
"""PyTorch reference values for DPO (tests/unit/dpo_reference_test.cpp): a tiny GPT-2 policy, a frozen
reference GPT-2 of the same shape, DPO's loss on preference records and the policy's gradients. Written from
the definitions (Rafailov et al. 2023, eq. 7; TRL's DPOTrainer with loss_type "sigmoid"), not from lmpipe's
code: a record is a prompt and pairs of replies; log pi(y | x) sums the log-probabilities of the reply's
tokens given everything before them; the implicit reward is beta (log pi - log ref); a pair's loss is
-log sigmoid(r_chosen - r_rejected); the loss is the mean over records of the mean over each record's pairs.
With RPO (Pang et al. 2024) a pair's loss adds rpo_alpha x the chosen reply's negative log-likelihood divided
by its length in tokens.
Run with Debian's python3-torch (`/usr/bin/python3`); writes tests/data/nn/gpt2_dpo_tiny.safetensors: the
policy's weights, the reference's ("ref." + name), the records, both models' reply log-probabilities, the
loss and every gradient of the policy, and the same with RPO ("rpo_loss", "rpo_grad." + name).
"""
import os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt_reference import gpt, parameters, write  # noqa: E402

torch.manual_seed(1357)
torch.use_deterministic_algorithms(True)


def reply_logps(p, cfg, sequences, reply_starts):
    """log pi of each sequence's reply: the sum over reply tokens of log softmax(logits)[token]."""
    T = max(len(s) for s in sequences)
    idx = torch.tensor([s + [0] * (T - len(s)) for s in sequences])
    logp = F.log_softmax(gpt(p, cfg, idx[:, :-1]), -1)
    out = []
    for b, (s, start) in enumerate(zip(sequences, reply_starts)):
        # Token t (t >= 1) is predicted at input position t - 1.
        out.append(sum(logp[b, t - 1, s[t]] for t in range(max(start, 1), len(s))))
    return torch.stack(out)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "nn")
    cfg = dict(arch="gpt2", vocab_size=64, max_len=16, n_layer=2, n_head=4, d_model=32, d_ff=128)
    beta, rpo_alpha = 0.1, 0.5
    policy = parameters(cfg)
    reference = {name: (t.detach() + torch.randn(t.shape) * 0.05) for name, t in policy.items()}
    V = cfg["vocab_size"]

    def record(prompt, replies):
        parts = [torch.randint(0, V, (n,)).tolist() for n in [prompt] + replies]
        return {"ids": [i for part in parts for i in part], "part_lens": [len(x) for x in parts]}

    records = [record(5, [3, 6, 2, 1]), record(7, [4, 9]), record(0, [2, 5])]
    sequences, starts, pair_record = [], [], []
    for r_index, r in enumerate(records):
        ids, lens = r["ids"], r["part_lens"]
        at = lens[0]
        for n in lens[1:]:
            sequences.append(ids[:lens[0]] + ids[at:at + n])
            starts.append(lens[0])
            at += n
        pair_record += [r_index] * ((len(lens) - 1) // 2)
    with torch.no_grad():
        ref = reply_logps(reference, cfg, sequences, starts)
    pair_record = torch.tensor(pair_record)
    chosen_tokens = torch.tensor([len(s) - start for s, start in zip(sequences, starts)][0::2], dtype=torch.float32)

    def dpo_loss(alpha):
        pi = reply_logps(policy, cfg, sequences, starts)
        rewards = beta * (pi - ref)
        margins = rewards[0::2] - rewards[1::2]
        per_pair = -F.logsigmoid(margins) + alpha * (-pi[0::2] / chosen_tokens)
        return pi, margins, torch.stack([per_pair[pair_record == r].mean() for r in range(len(records))]).mean()

    rpo_pi, _, rpo_loss = dpo_loss(rpo_alpha)
    rpo_loss.backward()
    rpo_grads = {"rpo_grad." + name: t.grad.detach().clone() for name, t in policy.items()}
    for t in policy.values():
        t.grad = None
    pi, margins, loss = dpo_loss(0.0)
    loss.backward()

    tensors = {name: t.detach().clone() for name, t in policy.items()}
    tensors.update({"ref." + name: t.clone() for name, t in reference.items()})
    cat = lambda key: torch.tensor([v for r in records for v in r[key]], dtype=torch.int64)
    tensors.update({"ids": cat("ids"), "part_lens": cat("part_lens"),
                    "record_parts": torch.tensor([len(r["part_lens"]) for r in records], dtype=torch.int64),
                    "policy_logp": pi.detach().double(), "reference_logp": ref.double(),
                    "loss": loss.detach().double().reshape(1), "rpo_loss": rpo_loss.detach().double().reshape(1)})
    tensors.update({"grad." + name: t.grad.detach().clone() for name, t in policy.items()})
    tensors.update(rpo_grads)
    metadata = {k: str(v) for k, v in cfg.items()}
    metadata["beta"] = str(beta)
    metadata["rpo_alpha"] = str(rpo_alpha)
    metadata["torch"] = torch.__version__
    path = os.path.join(out_dir, "gpt2_dpo_tiny.safetensors")
    write(path, tensors, metadata)
    print(f"{path}: loss {loss.item():.6f} over {len(margins)} pairs of {len(records)} records", file=sys.stderr)


if __name__ == "__main__":
    main()
