#include "gen/sampler.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>
#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::gen {
namespace {

// The nucleus usually lies among the few hundred most probable tokens: select those first and sort
// the whole vocabulary only when they do not reach p.
constexpr size_t kNucleusFirstTry = 1024;

bool more_probable(const Candidate& a, const Candidate& b) {
  return a.probability > b.probability || (a.probability == b.probability && a.id < b.id);
}

uint32_t argmax(std::span<const float> logits) {
  return uint32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace

void SamplerOptions::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    throw UsageError(fmt::format("--temperature must be 0 (greedy) or more, not {}", temperature));
  if (!(top_p > 0 && top_p <= 1)) throw UsageError(fmt::format("--top-p must be in (0, 1], not {}", top_p));
}

Sampler::Sampler(SamplerOptions options) : options_(options) {
  options_.validate();
  if (options_.temperature == 0) options_.greedy = true;
}

double Sampler::weigh(std::span<const float> logits) {
  weights_.resize(logits.size());
  const float m = *std::max_element(logits.begin(), logits.end());
  const auto n = Eigen::Index(logits.size());
  const Eigen::Map<const Eigen::ArrayXf> l(logits.data(), n);
  Eigen::Map<Eigen::ArrayXf> w(weights_.data(), n);
  // Vectorised exp in float (50,257 of them per token); the sum is taken in double.
  w = ((l - m) * float(1.0 / options_.temperature)).exp();
  double total = 0;
  for (float x : weights_) total += double(x);
  return total;
}

double Sampler::filter(double total) {
  const size_t V = weights_.size();
  const bool nucleus = options_.top_p < 1;
  candidates_.clear();
  if (options_.top_k == 0 && !nucleus) return total;
  candidates_.resize(V);
  for (size_t i = 0; i < V; ++i) candidates_[i] = Candidate{uint32_t(i), double(weights_[i])};
  const size_t k = options_.top_k == 0 ? V : std::min(options_.top_k, V);
  // The most probable `take` tokens, sorted; take = k with top-k, a first guess for the nucleus without.
  size_t take = options_.top_k != 0 ? k : std::min(V, kNucleusFirstTry);
  const auto select = [&](size_t n) {
    std::nth_element(candidates_.begin(), candidates_.begin() + std::ptrdiff_t(n - 1), candidates_.end(), more_probable);
    std::sort(candidates_.begin(), candidates_.begin() + std::ptrdiff_t(n), more_probable);
  };
  select(take);
  // The nucleus is taken of the distribution top-k left, renormalised.
  double pool = total;
  if (options_.top_k != 0) {
    pool = 0;
    for (size_t i = 0; i < k; ++i) pool += candidates_[i].probability;
  }
  size_t keep = k;
  if (nucleus) {
    const double target = options_.top_p * pool;
    for (;;) {
      double cumulative = 0;
      keep = 0;
      while (keep < take && cumulative < target) cumulative += candidates_[keep++].probability;
      if (cumulative >= target || take == k) break;
      take = k;  // the first guess fell short: sort them all
      select(take);
    }
    keep = std::max<size_t>(keep, 1);
  }
  candidates_.resize(keep);
  double kept = 0;
  for (const Candidate& c : candidates_) kept += c.probability;
  return kept;
}

uint32_t Sampler::next(std::span<const float> logits, Rng& rng) {
  if (options_.greedy) return argmax(logits);
  const double kept = filter(weigh(logits));
  const double u = rng.uniform() * kept;
  double cumulative = 0;
  if (candidates_.empty()) {
    for (size_t i = 0; i < weights_.size(); ++i) {
      cumulative += double(weights_[i]);
      if (u < cumulative) return uint32_t(i);
    }
    return argmax(logits);  // u within rounding of the total
  }
  for (const Candidate& c : candidates_) {
    cumulative += c.probability;
    if (u < cumulative) return c.id;
  }
  return candidates_.back().id;
}

std::vector<Candidate> Sampler::distribution(std::span<const float> logits) {
  if (options_.greedy) return {Candidate{argmax(logits), 1.0}};
  const double kept = filter(weigh(logits));
  std::vector<Candidate> out = candidates_;
  if (out.empty()) {
    out.resize(weights_.size());
    for (size_t i = 0; i < weights_.size(); ++i) out[i] = Candidate{uint32_t(i), double(weights_[i])};
    std::sort(out.begin(), out.end(), more_probable);
  }
  for (Candidate& c : out) c.probability /= kept;
  return out;
}

}  // namespace lmpipe::gen
