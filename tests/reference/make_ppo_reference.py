#!/usr/bin/python3
"""PyTorch reference values for PPO (tests/unit/ppo_reference_test.cpp), written from TRL's PPOv2Trainer
(trl 0.11, trl/trainer/ppov2_trainer.py and utils.py) on padded [rollouts, response length] tensors with a
padding mask, as TRL computes them, not from lmpipe's code:
- per-token rewards: -kl_coef * (logprobs - ref_logprobs), plus the score at each response's last token (as
  TRL's PPOTrainer.compute_rewards does; PPOv2Trainer adds it at the padding position after the end token);
- GAE over the padded responses (values and rewards 0 at padding), returns = advantages + values;
- masked_whiten of the advantages (unbiased variance, eps 1e-8);
- the clipped surrogate and the clipped value loss (masked means), pg_clipfrac, vf_clipfrac, approxkl, and the
  gradients of pg_loss + vf_coef * vf_loss by every parameter of a tiny GPT-2 policy and a tiny GPT-2 value
  model (a score head at every response position, read one position before each response token);
- RLOO's advantages on the same experience, as TRL's RLOOTrainer (trl 0.11, trl/trainer/rloo_trainer.py)
  computes them with rloo_k 2: each response's reward is its score minus kl_coef times its summed KL, its
  advantage that minus the other response's to the same prompt (TRL's layout is [rloo_k, prompts], answer i
  of prompt j at i * prompts + j; lmpipe's is prompt after prompt, so rollouts 0, 1 and 2, 3 are the groups);
- the entropy of logits rows (logsumexp(l) - sum softmax(l) l) and Ziegler et al.'s adaptive KL controller.
Run with Debian's python3-torch (`/usr/bin/python3`); writes tests/data/nn/gpt2_ppo_tiny.safetensors.
"""
import os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt_reference import gpt, hidden, parameters, write  # noqa: E402

torch.manual_seed(2468)
torch.use_deterministic_algorithms(True)


def masked_mean(x, mask):
    return (x * mask).sum() / mask.sum()


def masked_whiten(x, mask):
    mean = masked_mean(x, mask)
    centered = x - mean
    var = masked_mean(centered ** 2, mask)
    n = mask.sum()
    var = var * n / (n - 1)  # TRL's masked_var, unbiased
    return (x - mean) * torch.rsqrt(var + 1e-8)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "nn")
    cfg = dict(arch="gpt2", vocab_size=64, max_len=16, n_layer=2, n_head=4, d_model=32, d_ff=128)
    kl_coef, gamma, lam, clip, value_clip, vf_coef = 0.05, 0.9, 0.95, 0.2, 0.2, 0.1
    V, pad = cfg["vocab_size"], 63
    policy = parameters(cfg)
    value = parameters(cfg)
    value["score.weight"] = (torch.randn(1, cfg["d_model"]) * 0.5).requires_grad_()

    prompt_lens, response_lens = [3, 5, 2, 4], [4, 1, 6, 3]
    prompts = [torch.randint(0, V - 1, (n,)).tolist() for n in prompt_lens]
    responses = [torch.randint(0, V - 1, (n,)).tolist() for n in response_lens]
    S, L = len(prompts), max(response_lens)
    mask = torch.zeros(S, L)
    for s, n in enumerate(response_lens):
        mask[s, :n] = 1

    # Each sequence prompt + response without its last token; response token t is predicted at row P - 1 + t.
    sequences = [p + r for p, r in zip(prompts, responses)]
    T = max(len(x) for x in sequences) - 1
    idx = torch.tensor([x[:-1] + [pad] * (T - len(x) + 1) for x in sequences])
    rows = [[len(p) - 1 + t for t in range(len(r))] for p, r in zip(prompts, responses)]

    def gather(per_row):  # [S, T] -> [S, L] at the response rows, 0 at padding
        out = torch.zeros(S, L, dtype=per_row.dtype)
        for s in range(S):
            for t, row in enumerate(rows[s]):
                out[s, t] = per_row[s, row]
        return out

    def logprobs_of(p):
        logp = F.log_softmax(gpt(p, cfg, idx), -1)
        targets = torch.zeros(S, T, dtype=torch.int64)
        for s in range(S):
            for t, row in enumerate(rows[s]):
                targets[s, row] = responses[s][t]
        return gather(logp.gather(-1, targets.unsqueeze(-1))[..., 0])

    def values_of(p):
        return gather((hidden(p, cfg, idx) @ p["score.weight"].t())[..., 0])

    # The experience: what the models gave at rollout time, perturbed so that some ratios and values clip.
    with torch.no_grad():
        logprobs = (logprobs_of(policy) + torch.randn(S, L) * 0.3) * mask
        ref_logprobs = (logprobs + torch.randn(S, L) * 0.5) * mask
        values = (values_of(value) + torch.randn(S, L) * 0.3) * mask
        scores = torch.randn(S)

        kl = logprobs - ref_logprobs
        rewards = -kl_coef * kl * mask
        last = torch.tensor(response_lens) - 1
        rewards[torch.arange(S), last] += scores
        lastgaelam, reversed_adv = 0, []
        for t in reversed(range(L)):
            nextvalues = values[:, t + 1] if t < L - 1 else 0.0
            delta = rewards[:, t] + gamma * nextvalues - values[:, t]
            lastgaelam = delta + gamma * lam * lastgaelam
            reversed_adv.append(lastgaelam)
        advantages = torch.stack(reversed_adv[::-1], axis=1)
        returns = advantages + values
        advantages = masked_whiten(advantages, mask) * mask

    new_logprobs = logprobs_of(policy)
    vpred = values_of(value)
    logprobs_diff = new_logprobs - logprobs
    ratio = torch.exp(logprobs_diff)
    pg_losses = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    pg_loss = masked_mean(torch.max(pg_losses, pg_losses2), mask)
    vpredclipped = torch.clamp(vpred, values - value_clip, values + value_clip)
    vf_losses1 = torch.square(vpred - returns)
    vf_losses2 = torch.square(vpredclipped - returns)
    vf_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mask)
    loss = pg_loss + vf_coef * vf_loss
    loss.backward()
    pg_clipfrac = masked_mean((pg_losses2 > pg_losses).float(), mask)
    vf_clipfrac = masked_mean((vf_losses2 > vf_losses1).float(), mask)
    approxkl = masked_mean(0.5 * logprobs_diff ** 2, mask)

    # RLOO (rloo_k 2): rollouts 2j and 2j + 1 answer prompt j; TRL's tensor holds answer i of prompt j at [i, j].
    rloo_k = 2
    with torch.no_grad():
        rlhf_reward = scores + (-kl_coef * kl * mask).sum(1)
        rlhf_reward = rlhf_reward.reshape(-1, rloo_k).t()
        baseline = (rlhf_reward.sum(0) - rlhf_reward) / (rloo_k - 1)
        rloo = (rlhf_reward - baseline).t().flatten()
        rloo_advantages = rloo.unsqueeze(1).expand(S, L) * mask

    # Entropy of the policy's logits at the response rows.
    with torch.no_grad():
        logits = gpt(policy, cfg, idx)
        entropy_rows = torch.stack([logits[s, row] for s in range(S) for row in rows[s]])
        entropy = torch.logsumexp(entropy_rows, -1) - (F.softmax(entropy_rows, -1) * entropy_rows).sum(-1)

    # The adaptive KL controller (TRL's AdaptiveKLController): three updates.
    coef, target, horizon, batch = 0.2, 6.0, 10000.0, 64
    coefs, kls = [], [9.0, 2.0, 6.3]
    for current in kls:
        coef *= 1 + min(max(current / target - 1, -0.2), 0.2) * batch / horizon
        coefs.append(coef)

    flat = lambda x: torch.cat([x[s, :n] for s, n in enumerate(response_lens)])
    i64 = lambda xs: torch.tensor(xs, dtype=torch.int64)
    tensors = {name: t.detach().clone() for name, t in policy.items()}
    tensors.update({"value." + name: t.detach().clone() for name, t in value.items()})
    tensors.update({"grad." + name: t.grad.detach().clone() for name, t in policy.items()})
    tensors.update({"value_grad." + name: t.grad.detach().clone() for name, t in value.items()})
    tensors.update({
        "prompt_ids": i64(sum(prompts, [])), "prompt_lens": i64(prompt_lens),
        "response_ids": i64(sum(responses, [])), "response_lens": i64(response_lens),
        "logprobs": flat(logprobs), "ref_logprobs": flat(ref_logprobs), "values": flat(values),
        "scores": scores.double(), "rewards": flat(rewards).double(),
        "advantages": flat(advantages).double(), "returns": flat(returns).double(),
        "rloo_advantages": flat(rloo_advantages).double(),
        "new_logprobs": flat(new_logprobs.detach()), "vpred": flat(vpred.detach()),
        "losses": torch.tensor([pg_loss.item(), vf_loss.item(), pg_clipfrac.item(), vf_clipfrac.item(),
                                approxkl.item()], dtype=torch.float64),
        "entropy_logits": entropy_rows, "entropy": entropy.double(),
        "kl_controller": torch.tensor([0.2, target, horizon, batch] + kls + coefs, dtype=torch.float64),
    })
    metadata = {k: str(v) for k, v in cfg.items()}
    metadata.update(kl_coef=str(kl_coef), gamma=str(gamma), lam=str(lam), clip=str(clip), value_clip=str(value_clip),
                    vf_coef=str(vf_coef), rloo_k=str(rloo_k), pad_token_id=str(pad), torch=torch.__version__)
    path = os.path.join(out_dir, "gpt2_ppo_tiny.safetensors")
    write(path, tensors, metadata)
    print(f"{path}: pg_loss {pg_loss.item():.6f} vf_loss {vf_loss.item():.6f} pg_clipfrac {pg_clipfrac.item():.3f} "
          f"vf_clipfrac {vf_clipfrac.item():.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
