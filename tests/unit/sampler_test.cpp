// Samplers against exact probabilities: the distribution each filter combination should draw from is
// computed here independently (softmax in double, a full sort), compared with Sampler::distribution(),
// and 200,000 draws of Sampler::next() are checked against it with a chi-square test.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "core/rng.h"
#include "gen/sampler.h"

using namespace lmpipe;
using namespace lmpipe::gen;

namespace {

// What temperature, then top-k, then top-p leave of softmax(logits), renormalised; 0 for dropped tokens.
std::vector<double> exact(const std::vector<float>& logits, double temperature, size_t top_k, double top_p) {
  const size_t V = logits.size();
  std::vector<double> p(V);
  const double m = *std::max_element(logits.begin(), logits.end());
  for (size_t i = 0; i < V; ++i) p[i] = std::exp((double(logits[i]) - m) / temperature);
  std::vector<size_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  const size_t k = top_k == 0 ? V : std::min(top_k, V);
  double pool = 0;
  for (size_t i = 0; i < k; ++i) pool += p[order[i]];
  size_t keep = k;
  if (top_p < 1) {
    double cumulative = 0;
    keep = 0;
    while (keep < k && cumulative < top_p) cumulative += p[order[keep++]] / pool;
  }
  std::vector<double> out(V, 0.0);
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += p[order[i]];
  for (size_t i = 0; i < keep; ++i) out[order[i]] = p[order[i]] / kept;
  return out;
}

// Chi-square critical values at significance 0.001 by degrees of freedom (1..11).
constexpr double kChi2Critical[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59, 31.26};

const std::vector<float> kLogits = {2.0f, 1.5f, 1.5f, 0.3f, -0.4f, 1.0f, 0.0f, -1.2f, 2.2f, 0.7f, -3.0f, 0.5f};

}  // namespace

TEST_CASE("each sampler draws from its exact distribution") {
  struct Case {
    double temperature;
    size_t top_k;
    double top_p;
  };
  const Case cases[] = {{1.0, 0, 1.0}, {0.7, 0, 1.0}, {1.5, 5, 1.0},  {1.0, 0, 0.8},
                        {0.8, 6, 0.9}, {1.3, 0, 0.5}, {1.0, 40, 0.95}, {2.0, 3, 0.99}};
  for (const Case& c : cases) {
    CAPTURE(c.temperature);
    CAPTURE(c.top_k);
    CAPTURE(c.top_p);
    SamplerOptions options;
    options.temperature = c.temperature;
    options.top_k = c.top_k;
    options.top_p = c.top_p;
    Sampler sampler(options);
    const std::vector<double> want = exact(kLogits, c.temperature, c.top_k, c.top_p);

    // The distribution the sampler reports, most probable first.
    const std::vector<Candidate> got = sampler.distribution(kLogits);
    size_t nonzero = 0;
    for (double p : want) nonzero += p > 0;
    REQUIRE(got.size() == nonzero);
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].probability == doctest::Approx(want[got[i].id]).epsilon(1e-6));
      if (i > 0) CHECK(got[i - 1].probability >= got[i].probability);
    }

    // Draws.
    Rng rng(1234, {uint64_t(c.top_k), uint64_t(c.top_p * 1000), uint64_t(c.temperature * 1000)});
    const size_t draws = 200000;
    std::vector<size_t> counts(kLogits.size(), 0);
    for (size_t i = 0; i < draws; ++i) ++counts[sampler.next(kLogits, rng)];
    double chi2 = 0;
    size_t cells = 0;
    for (size_t v = 0; v < kLogits.size(); ++v) {
      if (want[v] == 0) {
        CHECK(counts[v] == 0);  // filtered tokens never come out
        continue;
      }
      const double expected = want[v] * double(draws);
      chi2 += (double(counts[v]) - expected) * (double(counts[v]) - expected) / expected;
      ++cells;
    }
    if (cells > 1) CHECK(chi2 < kChi2Critical[cells - 1]);
  }
}

TEST_CASE("the nucleus boundary keeps the token that crosses p") {
  // Probabilities 0.5, 0.3, 0.2: p = 0.6 keeps the first two (0.5 < 0.6, 0.8 >= 0.6); p = 0.5 the first.
  const std::vector<float> logits = {float(std::log(0.3)), float(std::log(0.5)), float(std::log(0.2))};
  SamplerOptions options;
  options.top_p = 0.6;
  CHECK(Sampler(options).distribution(logits).size() == 2);
  options.top_p = 0.45;
  const auto one = Sampler(options).distribution(logits);
  REQUIRE(one.size() == 1);
  CHECK(one[0].id == 1);
  CHECK(one[0].probability == 1.0);
}

TEST_CASE("a wide nucleus beyond the first selection sorts the whole vocabulary") {
  // 3000 nearly equal logits: the 0.9 nucleus holds about 2700 tokens, more than the first try of 1024.
  std::vector<float> logits(3000);
  std::mt19937 gen(4);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  for (float& x : logits) x = u(gen);
  SamplerOptions options;
  options.top_p = 0.9;
  const std::vector<double> want = exact(logits, 1.0, 0, 0.9);
  const auto got = Sampler(options).distribution(logits);
  size_t nonzero = 0;
  for (double p : want) nonzero += p > 0;
  CHECK(got.size() == nonzero);
  CHECK(got.size() > 2000);
  for (const Candidate& c : got) CHECK(c.probability == doctest::Approx(want[c.id]).epsilon(1e-5));
}

TEST_CASE("greedy and temperature 0 take the first most probable token") {
  const std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f};
  Rng rng(1);
  SamplerOptions greedy;
  greedy.greedy = true;
  CHECK(Sampler(greedy).next(logits, rng) == 1);
  SamplerOptions zero;
  zero.temperature = 0;
  CHECK(Sampler(zero).next(logits, rng) == 1);
  SamplerOptions top1;
  top1.top_k = 1;
  for (int i = 0; i < 20; ++i) CHECK(Sampler(top1).next(logits, rng) == 1);
}

TEST_CASE("samples are the same for the same seed") {
  SamplerOptions options;
  options.top_p = 0.9;
  options.temperature = 0.9;
  Sampler a(options), b(options);
  Rng r1(77, {0, 1}), r2(77, {0, 1});
  for (int i = 0; i < 100; ++i) CHECK(a.next(kLogits, r1) == b.next(kLogits, r2));
}

TEST_CASE("sampler options out of range are usage errors") {
  SamplerOptions o;
  o.temperature = -1;
  CHECK_THROWS(Sampler(o));
  o = SamplerOptions{};
  o.top_p = 0;
  CHECK_THROWS(Sampler(o));
  o.top_p = 1.5;
  CHECK_THROWS(Sampler(o));
}
