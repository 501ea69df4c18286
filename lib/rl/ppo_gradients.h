#pragma once
// A PPO minibatch's gradients through the models: the clipped surrogate through the policy (each response
// token's cross-entropy weighed by its place in the loss, nn::Gpt::backward_weighted) and the clipped
// value loss through the value model's score head at every response token (nn::Gpt::score_rows). Both
// split the minibatch's sequences between the threads (nn::GptReplicas); the gradients stay per thread
// until the caller's reduce_grads.
#include <span>

#include "nn/gpt_replicas.h"
#include "rl/ppo_objective.h"
#include "rl/rollout_batch.h"

namespace lmpipe::rl {

// Adds scale times the gradient of the surrogate's sum over the rows' response tokens (the experience's
// old log-probabilities and advantages in the rows' token order); returns its sums.
PolicyLoss policy_gradient(nn::GptReplicas<float>& policy, const RolloutRows& rows, std::span<const float> old_logp,
                           std::span<const double> advantages, double clip, double scale);

// Adds scale times the gradient of the value loss's sum; returns its sums.
ValueLoss value_gradient(nn::GptReplicas<float>& value, const RolloutRows& rows, std::span<const float> old_values,
                         std::span<const double> returns, double clip, double scale);

}  // namespace lmpipe::rl
