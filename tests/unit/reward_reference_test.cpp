// The reward model against PyTorch: tests/data/nn/gpt2_reward_tiny.safetensors holds a small GPT-2 with a
// score head, three prefs records (two pairs of one prompt, one pair, a pair with no prompt), the padded
// sequences and rewards PyTorch computed, InstructGPT's loss (mean over records of the mean over their
// pairs) and every gradient (tests/reference/make_reward_reference.py makes it; CI needs no PyTorch). The
// rows come from train/pair_batch.h, the rewards from nn::Gpt::score, the loss from train::reward_loss.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/safetensors.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "prefs_reference.h"
#include "reference_file.h"
#include "train/pair_batch.h"

using namespace lmpipe;
using namespace lmpipe::nn;
using lmpipe::io::SafetensorsFile;

namespace {

struct RewardReference {
  SafetensorsFile ref{std::string(LMPIPE_TEST_DATA_DIR) + "/nn/gpt2_reward_tiny.safetensors"};
  GptConfig config;
  std::vector<train::PrefsRecord> records;

  RewardReference() {
    read_gpt_shape(ref, config);
    config.head = GptHead::kScore;
    config.pad_token_id = uint32_t(meta_size(ref, "pad_token_id"));
    records = reference_prefs_records(ref);
  }
};

}  // namespace

TEST_CASE("prefs records become PyTorch's sequences: prompt + chosen, prompt + rejected, right-padded") {
  const RewardReference s;
  train::PairRows rows;
  train::make_pair_rows(s.records, s.config.pad_token_id, rows);
  const io::SafeTensor* inputs = s.ref.find("input_ids");
  CHECK(rows.pairs == 4);
  CHECK(rows.Tn == inputs->shape[1]);
  CHECK(rows.inputs == s.ref.read_ids(*inputs));
  CHECK(rows.last == s.ref.read_ids(*s.ref.find("last")));
  CHECK(rows.pair_weight == std::vector<double>{0.5, 0.5, 1, 1});
}

TEST_CASE("rewards, the reward-model loss and its gradients match PyTorch") {
  const RewardReference s;
  train::PairRows rows;
  train::make_pair_rows(s.records, s.config.pad_token_id, rows);
  const std::vector<float> want_rewards = floats(s.ref, "rewards");
  const double want = floats(s.ref, "loss")[0];
  Gpt<float> model(s.config);
  load_reference_params(s.ref, model);
  for (size_t threads : {1, 2}) {
    CAPTURE(threads);
    // As the reward objective runs a step: each thread scores its share of the pairs, takes the loss of
    // those pairs (scaled by 1 / records) and backpropagates it.
    model.zero_grad();
    GptReplicas<float> replicas(model, threads);
    const size_t S = 2 * rows.pairs;
    std::vector<float> scores(S), dscores(S);
    std::vector<train::PairSums> shares(S);
    replicas.run_shares(S, 2, [&](Gpt<float>& m, size_t first, size_t n) {
      m.score(scores.data() + first, rows.inputs.data() + first * rows.Tn, rows.last.data() + first, n, rows.Tn, true);
      shares[first] = train::reward_loss(rows, scores.data(), train::PairWeighting::kByRecord,
                                         1.0 / double(s.records.size()), dscores.data(), first, n);
      m.score_backward(dscores.data() + first, rows.inputs.data() + first * rows.Tn, rows.last.data() + first, n,
                       rows.Tn);
    });
    replicas.reduce_grads();
    train::PairSums sums;
    for (const train::PairSums& p : shares) sums.add(p);
    for (size_t i = 0; i < S; ++i) CHECK(std::abs(scores[i] - want_rewards[i]) < 1e-5);
    CHECK(std::abs(sums.loss - want) / want < 1e-5);
    CHECK(sums.pairs == 4);
    CHECK(worst_model_gradient(s.ref, model) < 1e-4);
  }
  // Evaluation counts each pair once, whatever its record.
  double each = 0;
  for (size_t p = 0; p < rows.pairs; ++p)
    each += std::log1p(std::exp(-(double(want_rewards[2 * p]) - double(want_rewards[2 * p + 1]))));
  const train::PairSums evaluated =
      train::reward_loss(rows, want_rewards.data(), train::PairWeighting::kEach, 1.0, nullptr, 0, 2 * rows.pairs);
  CHECK(std::abs(evaluated.loss - each) < 1e-9);
  CHECK(evaluated.pairs == 4);
}
