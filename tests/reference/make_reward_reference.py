#!/usr/bin/python3
"""PyTorch reference values for the reward model (tests/unit/reward_reference_test.cpp): a tiny GPT-2 with a
score head, InstructGPT's loss on preference records and its gradients. Written from the definitions (Ouyang
et al. 2022, eq. 1; transformers' GPT2ForSequenceClassification), not from lmpipe's code: a record is a
prompt and pairs of replies; each pair gives two sequences, prompt + chosen and prompt + rejected, right-
padded with the pad id; a sequence's reward is score.weight . h at its last token, h the final layer norm's
output; a pair's loss is -log sigmoid(r_chosen - r_rejected); the loss is the mean over records of the mean
over each record's pairs (a prompt's comparisons are one batch element). Run with Debian's python3-torch
(`/usr/bin/python3`); writes tests/data/nn/gpt2_reward_tiny.safetensors: the weights, the records (ids,
part_lens, record_parts, concatenated), the pad id, the rewards, the loss and every gradient.
"""
import os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt_reference import hidden, parameters, write  # noqa: E402

torch.manual_seed(2468)
torch.use_deterministic_algorithms(True)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "nn")
    cfg = dict(arch="gpt2", vocab_size=64, max_len=16, n_layer=2, n_head=4, d_model=32, d_ff=128)
    p = parameters(cfg)
    p["score.weight"] = (torch.randn(1, cfg["d_model"]) * 0.5).requires_grad_()
    V, pad = cfg["vocab_size"], 63

    def record(prompt, replies):
        """A prompt of `prompt` ids and pairs of replies of the given lengths (chosen, rejected, ...)."""
        parts = [torch.randint(0, V - 1, (n,)).tolist() for n in [prompt] + replies]
        return {"ids": [i for part in parts for i in part], "part_lens": [len(x) for x in parts]}

    records = [record(5, [3, 6, 2, 1]), record(7, [4, 9]), record(0, [2, 5])]  # two pairs; one; no prompt
    sequences, pair_record = [], []
    for r_index, r in enumerate(records):
        ids, lens = r["ids"], r["part_lens"]
        prompt = ids[:lens[0]]
        at = lens[0]
        for n in lens[1:]:
            sequences.append(prompt + ids[at:at + n])
            at += n
        pair_record += [r_index] * ((len(lens) - 1) // 2)
    T = max(len(s) for s in sequences)
    idx = torch.tensor([s + [pad] * (T - len(s)) for s in sequences])
    last = torch.tensor([len(s) - 1 for s in sequences])
    h = hidden(p, cfg, idx)
    rewards = (h[torch.arange(len(sequences)), last] @ p["score.weight"].t())[:, 0]
    margins = rewards[0::2] - rewards[1::2]
    per_pair = -F.logsigmoid(margins)
    pair_record = torch.tensor(pair_record)
    loss = torch.stack([per_pair[pair_record == r].mean() for r in range(len(records))]).mean()
    loss.backward()

    tensors = {name: t.detach().clone() for name, t in p.items()}
    cat = lambda key: torch.tensor([v for r in records for v in r[key]], dtype=torch.int64)
    tensors.update({"ids": cat("ids"), "part_lens": cat("part_lens"),
                    "record_parts": torch.tensor([len(r["part_lens"]) for r in records], dtype=torch.int64),
                    "input_ids": idx, "last": last, "rewards": rewards.detach().clone(),
                    "loss": loss.detach().double().reshape(1)})
    tensors.update({"grad." + name: t.grad.detach().clone() for name, t in p.items()})
    metadata = {k: str(v) for k, v in cfg.items()}
    metadata["pad_token_id"] = str(pad)
    metadata["torch"] = torch.__version__
    path = os.path.join(out_dir, "gpt2_reward_tiny.safetensors")
    write(path, tensors, metadata)
    print(f"{path}: loss {loss.item():.6f} over {len(margins)} pairs of {len(records)} records", file=sys.stderr)


if __name__ == "__main__":
    main()
