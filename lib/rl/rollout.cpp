#include "rl/rollout.h"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <memory>

#include "core/error.h"
#include "core/rng.h"
#include "gen/sampler.h"
#include "nn/gpt_decoder.h"
#include "rl/ppo_objective.h"

namespace lmpipe::rl {

std::vector<Rollout> sample_rollouts(const nn::Gpt<float>& policy, std::span<const std::vector<uint32_t>> prompts,
                                     const RolloutOptions& options, uint64_t iteration) {
  const size_t capacity = policy.config().max_len, V = policy.config().vocab_size;
  const size_t room = std::max<size_t>(1, std::min(options.max_new_tokens, capacity / 2));
  std::vector<Rollout> out(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw Error("an empty prompt");
    const size_t keep = std::min(prompts[i].size(), capacity - room);
    out[i].prompt.assign(prompts[i].end() - std::ptrdiff_t(keep), prompts[i].end());
    out[i].dropped_prompt_tokens = prompts[i].size() - keep;
  }
  // A decoder (its caches) and logits per thread, made before the parallel loop; each thread's decoder
  // runs its products on that thread.
  const size_t threads = size_t(std::max(1, omp_get_max_threads()));
  std::vector<std::unique_ptr<nn::GptDecoder<float>>> decoders;
  for (size_t t = 0; t < threads; ++t) decoders.push_back(std::make_unique<nn::GptDecoder<float>>(policy));
  std::vector<std::vector<float>> logits(threads, std::vector<float>(V));
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic) num_threads(int(threads))
  for (size_t i = 0; i < prompts.size(); ++i) {
    try {
      nn::GptDecoder<float>& decoder = *decoders[size_t(omp_get_thread_num())];
      std::vector<float>& l = logits[size_t(omp_get_thread_num())];
      gen::Sampler sampler(options.sampling);
      Rollout& r = out[i];
      Rng rng(options.seed, {kRolloutStream, iteration, i});
      const size_t limit = std::min(options.max_new_tokens, capacity - r.prompt.size());
      decoder.reset();
      decoder.append(r.prompt.data(), r.prompt.size(), l.data());
      for (size_t t = 0; t < limit; ++t) {
        r.entropy += entropy(l, 1.0 / options.sampling.temperature);
        const uint32_t token = sampler.next(l, rng);
        r.response.push_back(token);
        if (token == options.end_token) {
          r.ended = true;
          break;
        }
        if (t + 1 < limit) decoder.append(&token, 1, l.data());
      }
    } catch (...) {
      // An exception must not leave the parallel loop; the first one is rethrown after it.
#pragma omp critical(rollout_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return out;
}

}  // namespace lmpipe::rl
