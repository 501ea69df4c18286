#pragma once
// The formulas of PPO as InstructGPT trains a policy against a reward model (Ouyang et al. 2022, after
// Ziegler et al. 2019 and Stiennon et al. 2020), written as TRL computes them (trl 0.11): per-token
// rewards with a KL penalty to the reference policy (the score at the response's last token, as
// PPOTrainer.compute_rewards and Ziegler et al. place it; PPOv2Trainer adds it one position later, on the
// padding after the end token, and trains the value there too, which is not followed), and PPOv2Trainer's
// generalised advantage estimation (Schulman et al. 2016), whitened advantages, clipped surrogate
// (Schulman et al. 2017) and clipped value loss. Everything is over the response tokens of a batch of
// rollouts, stored back to back: rollout s's tokens are [offsets[s], offsets[s + 1]).
#include <cstddef>
#include <span>
#include <vector>

namespace lmpipe::rl {

// rewards[t] = -kl_coef * (logp[t] - ref_logp[t]) for every token (the k1 estimate of the KL to the
// reference), plus scores[s] at the last token of each non-empty response s.
std::vector<double> token_rewards(std::span<const size_t> offsets, std::span<const float> logp,
                                  std::span<const float> ref_logp, std::span<const double> scores, double kl_coef);

// Generalised advantage estimation within each response (the value after its last token is 0):
// delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lam A_{t+1}; returns = A + V.
void gae(std::span<const size_t> offsets, std::span<const double> rewards, std::span<const float> values, double gamma,
         double lam, std::span<double> advantages, std::span<double> returns);

// RLOO's advantages (Ahmadian et al. 2024, "Back to Basics", as TRL's RLOOTrainer computes them, trl 0.11):
// response s's reward is scores[s] - kl_coef * sum over its tokens of (logp - ref_logp), and its advantage
// is that reward minus the mean reward of the other k - 1 responses to the same prompt, given to each of
// its tokens. The responses come group by group: s and s' share a prompt when s / k == s' / k (TRL
// interleaves the groups instead).
std::vector<double> rloo_advantages(std::span<const size_t> offsets, std::span<const float> logp,
                                    std::span<const float> ref_logp, std::span<const double> scores, double kl_coef,
                                    size_t k);

// x <- (x - mean) / sqrt(var + 1e-8) over all of x, var the unbiased variance (TRL's masked_whiten).
void whiten(std::span<double> x);

// The losses below are sums over the tokens given: a minibatch's mean is the sums over its tokens divided
// by their number, which a caller splitting a minibatch between threads passes as scale. Gradients are
// scale * d(sum) / d(input).

// The clipped surrogate, r = exp(logp - old_logp): the sum over tokens of
// max(-A_t r_t, -A_t clip(r_t, 1 - clip, 1 + clip)).
struct PolicyLoss {
  double loss = 0;
  double clipped = 0;    // tokens where the clipped term is the larger (TRL's pg_clipfrac, summed)
  double approx_kl = 0;  // the sum of (logp - old_logp)^2 / 2
  void add(const PolicyLoss& o) { loss += o.loss, clipped += o.clipped, approx_kl += o.approx_kl; }
};
PolicyLoss policy_loss(std::span<const float> logp, std::span<const float> old_logp, std::span<const double> advantages,
                       double clip, double scale, std::span<double> dlogp);

// The clipped value loss: the sum over tokens of
// 0.5 max((v_t - R_t)^2, (clip(v_t, old_t - clip, old_t + clip) - R_t)^2).
struct ValueLoss {
  double loss = 0;
  double clipped = 0;  // tokens where the clipped term is the larger
  void add(const ValueLoss& o) { loss += o.loss, clipped += o.clipped; }
};
// Where both terms are equal each takes half of the gradient, as torch.max does.
ValueLoss value_loss(std::span<const float> values, std::span<const float> old_values, std::span<const double> returns,
                     double clip, double scale, std::span<double> dvalues);

// The entropy of softmax(logits * logit_scale), in nats.
double entropy(std::span<const float> logits, double logit_scale = 1.0);

// The KL coefficient: fixed, or adapted towards a target KL as Ziegler et al. 2019 do (TRL's
// AdaptiveKLController): after each batch, coef *= 1 + clip(kl / target - 1, -0.2, 0.2) * n / horizon.
class KlController {
 public:
  KlController(double coef, double target, double horizon) : coef_(coef), target_(target), horizon_(horizon) {}
  double coef() const { return coef_; }
  void set_coef(double coef) { coef_ = coef; }  // a resumed run's
  bool adaptive() const { return target_ > 0; }
  // kl: the batch's mean KL to the reference (per response); n: its responses.
  void update(double kl, size_t n);

 private:
  double coef_, target_, horizon_;
};

}  // namespace lmpipe::rl
