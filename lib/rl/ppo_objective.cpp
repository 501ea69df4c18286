#include "rl/ppo_objective.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::rl {
namespace {

void check_tokens(std::span<const size_t> offsets, size_t n, const char* what) {
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != n)
    throw Error(fmt::format("{}: offsets do not cover the {} tokens", what, n));
}

}  // namespace

std::vector<double> token_rewards(std::span<const size_t> offsets, std::span<const float> logp,
                                  std::span<const float> ref_logp, std::span<const double> scores, double kl_coef) {
  check_tokens(offsets, logp.size(), "token_rewards");
  std::vector<double> rewards(logp.size());
  for (size_t t = 0; t < logp.size(); ++t) rewards[t] = -kl_coef * (double(logp[t]) - double(ref_logp[t]));
  for (size_t s = 0; s + 1 < offsets.size(); ++s)
    if (offsets[s + 1] > offsets[s]) rewards[offsets[s + 1] - 1] += scores[s];
  return rewards;
}

void gae(std::span<const size_t> offsets, std::span<const double> rewards, std::span<const float> values, double gamma,
         double lam, std::span<double> advantages, std::span<double> returns) {
  check_tokens(offsets, rewards.size(), "gae");
  for (size_t s = 0; s + 1 < offsets.size(); ++s) {
    double next_value = 0, next_advantage = 0;
    for (size_t t = offsets[s + 1]; t-- > offsets[s];) {
      const double delta = rewards[t] + gamma * next_value - values[t];
      next_advantage = delta + gamma * lam * next_advantage;
      next_value = values[t];
      advantages[t] = next_advantage;
      returns[t] = next_advantage + values[t];
    }
  }
}

std::vector<double> rloo_advantages(std::span<const size_t> offsets, std::span<const float> logp,
                                    std::span<const float> ref_logp, std::span<const double> scores, double kl_coef,
                                    size_t k) {
  check_tokens(offsets, logp.size(), "rloo_advantages");
  const size_t S = offsets.size() - 1;
  if (k < 2 || S % k != 0 || scores.size() != S)
    throw Error(fmt::format("rloo_advantages: {} responses with {} scores are not groups of {} (k >= 2)", S,
                            scores.size(), k));
  std::vector<double> reward(S);
  for (size_t s = 0; s < S; ++s) {
    double kl = 0;
    for (size_t t = offsets[s]; t < offsets[s + 1]; ++t) kl += double(logp[t]) - double(ref_logp[t]);
    reward[s] = scores[s] - kl_coef * kl;
  }
  std::vector<double> advantages(logp.size());
  for (size_t group = 0; group < S; group += k) {
    double sum = 0;
    for (size_t s = group; s < group + k; ++s) sum += reward[s];
    for (size_t s = group; s < group + k; ++s) {
      const double advantage = reward[s] - (sum - reward[s]) / double(k - 1);
      std::fill(advantages.begin() + std::ptrdiff_t(offsets[s]), advantages.begin() + std::ptrdiff_t(offsets[s + 1]),
                advantage);
    }
  }
  return advantages;
}

void whiten(std::span<double> x) {
  const size_t n = x.size();
  if (n == 0) return;
  double mean = 0;
  for (double v : x) mean += v;
  mean /= double(n);
  double squares = 0;
  for (double v : x) squares += (v - mean) * (v - mean);
  // torch's unbiased variance of one element is nan; TRL's masked_var then fails: 0 keeps one token usable.
  const double var = n > 1 ? squares / double(n - 1) : 0.0;
  const double scale = 1.0 / std::sqrt(var + 1e-8);
  for (double& v : x) v = (v - mean) * scale;
}

PolicyLoss policy_loss(std::span<const float> logp, std::span<const float> old_logp, std::span<const double> advantages,
                       double clip, double scale, std::span<double> dlogp) {
  PolicyLoss out;
  for (size_t t = 0; t < logp.size(); ++t) {
    const double diff = double(logp[t]) - double(old_logp[t]);
    const double ratio = std::exp(diff), a = advantages[t];
    const double unclipped = -a * ratio, clipped = -a * std::clamp(ratio, 1.0 - clip, 1.0 + clip);
    out.loss += std::max(unclipped, clipped);
    out.approx_kl += 0.5 * diff * diff;
    if (clipped > unclipped) out.clipped += 1;
    // Where the clipped term is the larger the ratio is outside the clip range: no gradient through it.
    // d(-A exp(logp - old)) / d logp = -A r.
    dlogp[t] = clipped > unclipped ? 0.0 : scale * unclipped;
  }
  return out;
}

ValueLoss value_loss(std::span<const float> values, std::span<const float> old_values, std::span<const double> returns,
                     double clip, double scale, std::span<double> dvalues) {
  ValueLoss out;
  for (size_t t = 0; t < values.size(); ++t) {
    const double v = values[t], old = old_values[t], r = returns[t];
    const bool inside = v >= old - clip && v <= old + clip;
    const double v_clipped = std::clamp(v, old - clip, old + clip);
    const double plain = (v - r) * (v - r), clipped = (v_clipped - r) * (v_clipped - r);
    out.loss += 0.5 * std::max(plain, clipped);
    if (clipped > plain) out.clipped += 1;
    // The clipped term moves with v only inside the clip range.
    const double d_plain = v - r, d_clipped = inside ? v_clipped - r : 0.0;
    const double d = plain > clipped ? d_plain : clipped > plain ? d_clipped : 0.5 * (d_plain + d_clipped);
    dvalues[t] = scale * d;
  }
  return out;
}

double entropy(std::span<const float> logits, double logit_scale) {
  float max = -INFINITY;
  for (float l : logits) max = std::max(max, l);
  double sum = 0, weighted = 0;
  for (float l : logits) {
    const double z = (double(l) - double(max)) * logit_scale, e = std::exp(z);
    sum += e;
    weighted += e * z;
  }
  // H = -sum p log p with p = e / sum and log p = z - log sum.
  return std::log(sum) - weighted / sum;
}

void KlController::update(double kl, size_t n) {
  if (!adaptive()) return;
  const double error = std::clamp(kl / target_ - 1.0, -0.2, 0.2);
  coef_ *= 1.0 + error * double(n) / horizon_;
}

}  // namespace lmpipe::rl
