// DPO against PyTorch: tests/data/nn/gpt2_dpo_tiny.safetensors holds a small GPT-2 policy, a reference of the
// same shape ("ref." tensors), three prefs records (two pairs of one prompt, one pair, a pair with no
// prompt), both models' reply log-probabilities, DPO's loss (beta 0.1, mean over records of the mean over
// their pairs) and every gradient of the policy, and the loss and gradients with RPO's term (rpo_alpha)
// (tests/reference/make_dpo_reference.py makes it; CI needs no PyTorch). The rows come from train/pair_batch.h, the log-probabilities and gradients from nn::Gpt's
// forward_train / backward_weighted, the loss from train::dpo_loss.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <utility>

#include "io/safetensors.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "prefs_reference.h"
#include "reference_file.h"
#include "train/pair_batch.h"

using namespace lmpipe;
using namespace lmpipe::nn;

TEST_CASE("DPO's reply log-probabilities, loss and gradients match PyTorch") {
  const io::SafetensorsFile ref(std::string(LMPIPE_TEST_DATA_DIR) + "/nn/gpt2_dpo_tiny.safetensors");
  GptConfig config;
  read_gpt_shape(ref, config);
  const double beta = meta_double(ref, "beta"), rpo_alpha = meta_double(ref, "rpo_alpha");
  const std::vector<train::PrefsRecord> records = reference_prefs_records(ref);
  train::PairRows rows;
  train::ReplyTargets targets;
  train::make_pair_rows(records, 0, rows);
  train::make_reply_targets(rows, targets);
  const size_t S = 2 * rows.pairs, T = targets.Tn;

  // The reference's log-probabilities, from a model without gradients.
  Gpt<float> reference(config, ModelBuffers::kLayout);
  reference.params().assign(reference.layout().total(), 0.0f);
  for (const TensorInfo& t : reference.layout().tensors())
    ref.read_floats(*ref.find("ref." + t.name), reference.params().data() + t.offset);
  std::vector<double> reference_logp(S);
  reference.forward(targets.inputs.data(), targets.targets.data(), S, T);
  train::reply_logps(reference.token_losses(), targets, 0, S, reference_logp.data());
  const std::vector<float> want_reference = floats(ref, "reference_logp"), want_policy = floats(ref, "policy_logp");
  for (size_t s = 0; s < S; ++s) CHECK(std::abs(reference_logp[s] - want_reference[s]) < 1e-4);

  Gpt<float> policy(config);
  load_reference_params(ref, policy);
  for (const auto& run : {std::pair{0.0, std::string()}, std::pair{rpo_alpha, std::string("rpo_")}})
  for (size_t threads : {1, 2}) {
    const double alpha = run.first;  // a plain variable: lambdas cannot capture structured bindings in C++17
    const std::string& prefix = run.second;
    CAPTURE(alpha);
    CAPTURE(threads);
    const double want = floats(ref, prefix + "loss")[0];
    // As the dpo objective runs a step: each thread a share of the pairs, forward, loss, weighted backward.
    policy.zero_grad();
    GptReplicas<float> replicas(policy, threads);
    std::vector<double> policy_logp(S), dlogp(S);
    std::vector<float> row_scale(S * T, 0.0f);
    std::vector<train::DpoSums> shares(S);
    replicas.run_shares(S, 2, [&](Gpt<float>& m, size_t first, size_t n) {
      m.forward_train(targets.inputs.data() + first * T, targets.targets.data() + first * T, n, T);
      train::reply_logps(m.token_losses(), targets, first, n, policy_logp.data());
      shares[first] = train::dpo_loss(rows, policy_logp.data(), reference_logp.data(), beta, alpha,
                                      train::PairWeighting::kByRecord, 1.0 / double(records.size()), dlogp.data(),
                                      first, n);
      train::reply_row_scales(targets, dlogp.data(), first, n, row_scale.data());
      m.backward_weighted(row_scale.data() + first * T, targets.inputs.data() + first * T,
                          targets.targets.data() + first * T, n, T);
    });
    replicas.reduce_grads();
    train::DpoSums sums;
    for (const train::DpoSums& p : shares) sums.add(p);
    for (size_t s = 0; s < S; ++s) CHECK(std::abs(policy_logp[s] - want_policy[s]) < 1e-4);
    CHECK(std::abs(sums.pairs.loss - want) / want < 1e-5);
    CHECK(sums.pairs.pairs == 4);
    CHECK(worst_model_gradient(ref, policy, prefix + "grad.") < 1e-4);
    double chosen_nll = 0;
    for (size_t s = 0; s < S; s += 2) chosen_nll += -want_policy[s] / double(rows.last[s] - rows.reply_start[s] + 1);
    CHECK(std::abs(sums.chosen_nll - chosen_nll) < 1e-4);
  }
}
