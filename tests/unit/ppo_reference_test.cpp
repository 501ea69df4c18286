// PPO against PyTorch: tests/data/nn/gpt2_ppo_tiny.safetensors holds a small GPT-2 policy, a GPT-2 value model
// (a score head, "value." tensors), four rollouts (prompts and responses of different lengths), the
// experience (log-probabilities at rollout time, the reference's, values, scores), and what TRL's PPOv2Trainer
// computes from them on padded tensors: rewards, GAE advantages (whitened) and returns, the clipped surrogate
// and value losses with their clip fractions and approximate KL, every gradient of both models, the entropy
// of logits rows and the adaptive KL controller's coefficients; and RLOO's advantages as TRL's RLOOTrainer
// computes them (tests/reference/make_ppo_reference.py makes it; CI needs no PyTorch). The rows come from
// rl/rollout_batch.h, the formulas from rl/ppo_objective.h, the gradients from rl/ppo_gradients.h.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "reference_file.h"
#include "rl/ppo_gradients.h"
#include "rl/ppo_objective.h"
#include "rl/rollout_batch.h"

using namespace lmpipe;
using namespace lmpipe::nn;

namespace {

std::vector<uint32_t> ids_of(const io::SafetensorsFile& f, const std::string& name) {
  const io::SafeTensor* t = f.find(name);
  REQUIRE(t != nullptr);
  return f.read_ids(*t);
}

std::vector<double> doubles(const io::SafetensorsFile& f, const std::string& name) {
  const io::SafeTensor* t = f.find(name);
  REQUIRE(t != nullptr);
  std::vector<double> out(t->elements());
  f.read_doubles(*t, out.data());
  return out;
}

template <class A, class B>
double worst_difference(const A& got, const B& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - double(want[i])));
  return worst;
}

// The reference's rollouts: prompt and response ids cut by their lengths.
std::vector<rl::Rollout> reference_rollouts(const io::SafetensorsFile& f) {
  const std::vector<uint32_t> prompt_ids = ids_of(f, "prompt_ids"), prompt_lens = ids_of(f, "prompt_lens");
  const std::vector<uint32_t> response_ids = ids_of(f, "response_ids"), response_lens = ids_of(f, "response_lens");
  std::vector<rl::Rollout> out(prompt_lens.size());
  size_t p = 0, r = 0;
  for (size_t s = 0; s < out.size(); ++s) {
    out[s].prompt.assign(prompt_ids.begin() + p, prompt_ids.begin() + p + prompt_lens[s]);
    out[s].response.assign(response_ids.begin() + r, response_ids.begin() + r + response_lens[s]);
    p += prompt_lens[s], r += response_lens[s];
  }
  return out;
}

}  // namespace

TEST_CASE("PPO's rewards, advantages, losses and gradients match TRL's in PyTorch") {
  const io::SafetensorsFile ref(std::string(LMPIPE_TEST_DATA_DIR) + "/nn/gpt2_ppo_tiny.safetensors");
  GptConfig config;
  read_gpt_shape(ref, config);
  const double kl_coef = meta_double(ref, "kl_coef"), gamma = meta_double(ref, "gamma"), lam = meta_double(ref, "lam");
  const double clip = meta_double(ref, "clip"), value_clip = meta_double(ref, "value_clip");
  const double vf_coef = meta_double(ref, "vf_coef");
  const std::vector<rl::Rollout> rollouts = reference_rollouts(ref);
  const std::vector<size_t> order = {0, 1, 2, 3};
  const rl::RolloutRows rows = rl::make_rollout_rows(rollouts, order, uint32_t(meta_size(ref, "pad_token_id")));
  const size_t N = rows.tokens();

  const std::vector<float> logp = floats(ref, "logprobs"), ref_logp = floats(ref, "ref_logprobs");
  const std::vector<float> values = floats(ref, "values");
  const std::vector<double> scores = doubles(ref, "scores");
  const std::vector<double> rewards = rl::token_rewards(rows.offsets, logp, ref_logp, scores, kl_coef);
  CHECK(worst_difference(rewards, doubles(ref, "rewards")) < 1e-6);
  std::vector<double> advantages(N), returns(N);
  rl::gae(rows.offsets, rewards, values, gamma, lam, advantages, returns);
  CHECK(worst_difference(returns, doubles(ref, "returns")) < 1e-5);
  rl::whiten(advantages);
  CHECK(worst_difference(advantages, doubles(ref, "advantages")) < 1e-5);
  const size_t rloo_k = meta_size(ref, "rloo_k");
  CHECK(worst_difference(rl::rloo_advantages(rows.offsets, logp, ref_logp, scores, kl_coef, rloo_k),
                         doubles(ref, "rloo_advantages")) < 1e-6);
  CHECK_THROWS_AS(rl::rloo_advantages(rows.offsets, logp, ref_logp, scores, kl_coef, 3), Error);
  CHECK_THROWS_AS(rl::rloo_advantages(rows.offsets, logp, ref_logp, scores, kl_coef, 1), Error);

  // Through the models, on one thread and two, as a minibatch step runs them.
  const std::vector<double> losses = doubles(ref, "losses");  // pg_loss, vf_loss, pg_clipfrac, vf_clipfrac, approxkl
  Gpt<float> policy(config);
  load_reference_params(ref, policy);
  GptConfig value_config = config;
  value_config.head = GptHead::kScore;
  Gpt<float> value(value_config);
  load_reference_params(ref, value, "value.");
  const std::vector<double> want_advantages = doubles(ref, "advantages"), want_returns = doubles(ref, "returns");
  for (size_t threads : {1, 2}) {
    CAPTURE(threads);
    policy.zero_grad();
    value.zero_grad();
    GptReplicas<float> policy_replicas(policy, threads), value_replicas(value, threads);
    const rl::PolicyLoss p = rl::policy_gradient(policy_replicas, rows, logp, want_advantages, clip, 1.0 / double(N));
    const rl::ValueLoss v = rl::value_gradient(value_replicas, rows, values, want_returns, value_clip, vf_coef / double(N));
    policy_replicas.reduce_grads();
    value_replicas.reduce_grads();
    CHECK(p.loss / double(N) == doctest::Approx(losses[0]).epsilon(1e-5));
    CHECK(v.loss / double(N) == doctest::Approx(losses[1]).epsilon(1e-5));
    CHECK(p.clipped / double(N) == doctest::Approx(losses[2]));
    CHECK(v.clipped / double(N) == doctest::Approx(losses[3]));
    CHECK(p.approx_kl / double(N) == doctest::Approx(losses[4]).epsilon(1e-5));
    CHECK(worst_model_gradient(ref, policy) < 1e-4);
    CHECK(worst_model_gradient(ref, value, "value_grad.") < 1e-4);
  }
}

TEST_CASE("entropy of logits rows and the adaptive KL controller match PyTorch") {
  const io::SafetensorsFile ref(std::string(LMPIPE_TEST_DATA_DIR) + "/nn/gpt2_ppo_tiny.safetensors");
  const std::vector<float> logits = floats(ref, "entropy_logits");
  const std::vector<double> want = doubles(ref, "entropy");
  const size_t V = logits.size() / want.size();
  for (size_t r = 0; r < want.size(); ++r)
    CHECK(rl::entropy(std::span(logits).subspan(r * V, V)) == doctest::Approx(want[r]).epsilon(1e-6));

  // kl_controller: start, target, horizon, batch, three KLs, the coefficient after each update.
  const std::vector<double> k = doubles(ref, "kl_controller");
  rl::KlController adaptive(k[0], k[1], k[2]);
  for (size_t i = 0; i < 3; ++i) {
    adaptive.update(k[4 + i], size_t(k[3]));
    CHECK(adaptive.coef() == doctest::Approx(k[7 + i]).epsilon(1e-12));
  }
  rl::KlController fixed(0.05, 0, 10000);
  fixed.update(100.0, 64);
  CHECK(fixed.coef() == 0.05);
}
