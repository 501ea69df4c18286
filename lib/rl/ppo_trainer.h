#pragma once
// rlhf's training loop: PPO against a reward model, as InstructGPT trains its policy (Ouyang et al. 2022,
// section 3.5 and appendix C.4) with the formulas of rl/ppo_objective.h. Each iteration:
//   1. rollouts: a response from the policy to each of --batch-size prompts (rl/rollout.h);
//   2. scoring: the reward model's score of each prompt + response; the frozen reference's and the
//      policy's log-probability of each response token; the value model's value at each;
//   3. per-token rewards (the KL penalty, the score at the last token), GAE advantages (whitened over the
//      batch) and returns;
//   4. --ppo-epochs passes over the rollouts in shuffled minibatches: the clipped surrogate for the policy
//      (plus --ptx-coef times the language-model loss of a batch of --ptx-data windows: PPO-ptx), the
//      clipped value loss (times --vf-coef) for the value model, an AdamW step for each model;
//   5. the KL coefficient adapted (--target-kl), a metrics record, a checkpoint every --save-every.
// With rloo_k, the advantages are RLOO's instead (Ahmadian et al. 2024): each prompt is answered rloo_k
// times, a response's advantage is its KL-penalised reward minus the mean of the other answers' to the same
// prompt (rl::rloo_advantages), and there is no value model; the policy's loss is the same clipped
// surrogate, per token (as GRPO takes it, Shao et al. 2024; TRL's RLOOTrainer takes one ratio per response).
// Dropout is off in every model (the policy's log-probabilities at rollout time and in training must be
// of the same function). One process; its threads share each pass's sequences (nn::GptReplicas).
#include <cstddef>
#include <cstdint>
#include <string>

#include "gen/sampler.h"

namespace lmpipe::rl {

struct RlhfOptions {
  std::string policy;   // the SFT model: the policy's start and, unless ref, the reference
  std::string reward;   // the reward model (frozen), also the value model's start unless value
  std::string value;    // "": the reward model
  std::string ref;      // "": the policy's start
  std::string prompts;  // a chat shard of prompts (make-prefs --prompts-only)
  std::string out_dir;
  std::string ptx_data;  // windows shard (make-pairs --task causal) for PPO-ptx
  double ptx_coef = 0;
  size_t ptx_batch = 0;  // windows per minibatch (0: the minibatch's size)

  size_t iterations = 100;
  size_t batch_size = 64;   // rollouts per iteration (batch_size / rloo_k prompts with RLOO)
  size_t rloo_k = 0;        // 0: PPO with a value model; at least 2: RLOO, rloo_k responses to each prompt
  size_t minibatch = 8;     // rollouts per optimisation step
  size_t ppo_epochs = 4;
  size_t max_new_tokens = 64;
  gen::SamplerOptions sampling;  // the rollouts'; the log-probabilities are those at its temperature

  double lr = 1e-6, value_lr = 0;  // value_lr 0: lr
  double weight_decay = 0, grad_clip = 1.0;
  double kl_coef = 0.05, target_kl = 0, kl_horizon = 10000;  // target_kl 0: a fixed coefficient
  double gamma = 1.0, lam = 0.95, clip = 0.2, value_clip = 0.2, vf_coef = 0.1;

  uint64_t seed = 0;
  int threads = 1;
  size_t save_every = 0;  // iterations between checkpoints (0: only the last)
  bool resume = false, overwrite = false, quiet = false;
  std::string log;  // a copy of every metrics record, appended

  // Throws UsageError naming the flag when a value is out of range.
  void validate() const;
};

void run_rlhf(const RlhfOptions& options);

}  // namespace lmpipe::rl
