#pragma once
// Choosing the next token from a model's logits: greedy, or a draw from softmax(logits / temperature)
// restricted to the top k tokens and then to the nucleus (the smallest set of most probable tokens whose
// probability reaches p, Holtzman et al.), renormalised. The order of the filters is HuggingFace's
// (temperature, top-k, top-p), and so is the nucleus boundary: the token whose probability crosses p is
// kept (GPT-2's own sampling code drops it).
#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace lmpipe::gen {

struct SamplerOptions {
  bool greedy = false;       // the most probable token (the first of equals); temperature 0 means the same
  double temperature = 1.0;  // > 0, or 0 for greedy
  size_t top_k = 0;          // 0: no limit
  double top_p = 1.0;        // in (0, 1]; 1: no nucleus filter
  // Throws UsageError naming the flag when a value is out of range.
  void validate() const;
};

struct Candidate {
  uint32_t id;
  double probability;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  const SamplerOptions& options() const { return options_; }

  // The next token: argmax when greedy, else one uniform draw from rng against distribution().
  uint32_t next(std::span<const float> logits, Rng& rng);
  // The distribution next() draws from: the tokens left after the filters, most probable first (equal
  // probabilities by id), with their renormalised probabilities. Greedy: the argmax with probability 1.
  std::vector<Candidate> distribution(std::span<const float> logits);

 private:
  // Fills weights_ with exp((logit - max) / temperature) and returns their sum.
  double weigh(std::span<const float> logits);
  // Leaves in candidates_ the filtered tokens, most probable first; returns the sum of their weights.
  // Without filters candidates_ stays empty (every token, in id order, the caller's fast path).
  double filter(double total);

  SamplerOptions options_;
  std::vector<float> weights_;
  std::vector<Candidate> candidates_;  // probability holds the unnormalised weight until the end
};

}  // namespace lmpipe::gen
