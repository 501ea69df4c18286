#include "rl/rollout.h"

#include <memory>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "gen/sampler.h"
#include "nn/gpt_decoder.h"
#include "rl/ppo_objective.h"

namespace lmpipe::rl {

std::vector<Rollout> sample_rollouts(const nn::Gpt<float>& policy, std::span<const std::vector<uint32_t>> prompts,
                                     const RolloutOptions& options, uint64_t key) {
  const size_t capacity = policy.config().max_len, V = policy.config().vocab_size;
  for (const auto& prompt : prompts)
    if (prompt.empty() || prompt.size() >= capacity)
      throw Error(fmt::format("a prompt of {} tokens for a model of {} positions", prompt.size(), capacity));
  std::vector<Rollout> out(prompts.size());
#pragma omp parallel
  {
    // Per thread: a decoder (its caches) and the logits; the decoder's products run on this thread.
    nn::GptDecoder<float> decoder(policy);
    gen::Sampler sampler(gen::SamplerOptions{});
    std::vector<float> logits(V);
#pragma omp for schedule(dynamic)
    for (size_t i = 0; i < prompts.size(); ++i) {
      Rollout& r = out[i];
      r.prompt = prompts[i];
      Rng rng(options.seed, {key, i});
      const size_t limit = std::min(options.max_new_tokens, capacity - r.prompt.size());
      decoder.reset();
      decoder.append(r.prompt.data(), r.prompt.size(), logits.data());
      for (size_t t = 0; t < limit; ++t) {
        r.entropy += entropy(logits);
        const uint32_t token = sampler.next(logits, rng);
        r.response.push_back(token);
        if (token == options.end_token) {
          r.ended = true;
          break;
        }
        if (t + 1 < limit) decoder.append(&token, 1, logits.data());
      }
    }
  }
  return out;
}

}  // namespace lmpipe::rl
