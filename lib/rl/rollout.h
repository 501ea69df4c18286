#pragma once
// Rollouts: a response sampled from the policy for each prompt of a batch, with the KV-cached decoder
// sample uses (nn/gpt_decoder.h), one decoder per thread, and its sampler (gen/sampler.h): temperature,
// top-k, nucleus. The policy whose probability ratios PPO takes is softmax(logits / temperature) over the
// whole vocabulary, as TRL's PPO trainer takes it (top-k and nucleus filters make the rollouts slightly
// off-policy; they are for keeping a weak model's replies on track).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gen/sampler.h"
#include "nn/gpt.h"

namespace lmpipe::rl {

struct Rollout {
  std::vector<uint32_t> prompt;    // as the model saw it
  size_t dropped_prompt_tokens = 0;  // cut from the prompt's start to leave room for a reply
  std::vector<uint32_t> response;  // the sampled tokens, the end token included when it was drawn
  bool ended = false;              // the end token was drawn before the length limit
  double entropy = 0;  // the sum over the response's tokens of the entropy of softmax(logits / temperature)
};

struct RolloutOptions {
  size_t max_new_tokens = 64;  // also bounded by the model's positions after the prompt
  uint32_t end_token = 0;      // <|im_end|> for chat models
  uint64_t seed = 0;
  gen::SamplerOptions sampling;  // not greedy: temperature > 0
};

// The first key of the rollouts' random streams: rollout i of iteration k draws from
// Rng(seed, {kRolloutStream, k, i}), so the result is the same on any number of threads. A run's other
// streams start with other keys.
inline constexpr uint64_t kRolloutStream = 1;

// A response to each prompt (none empty). A prompt that leaves less room than min(max_new_tokens, half
// the positions) for its reply loses tokens from its start, as sample's prompts do.
std::vector<Rollout> sample_rollouts(const nn::Gpt<float>& policy, std::span<const std::vector<uint32_t>> prompts,
                                     const RolloutOptions& options, uint64_t iteration);

}  // namespace lmpipe::rl
