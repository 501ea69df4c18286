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
    const auto ids = ref.read_ids(*ref.find("ids")), lens = ref.read_ids(*ref.find("part_lens"));
    const auto parts = ref.read_ids(*ref.find("record_parts"));
    size_t at = 0, part = 0;
    for (const uint32_t n : parts) {
      train::PrefsRecord r;
      r.part_lens.assign(lens.begin() + long(part), lens.begin() + long(part + n));
      size_t length = 0;
      for (const uint32_t l : r.part_lens) length += l;
      r.ids.assign(ids.begin() + long(at), ids.begin() + long(at + length));
      at += length;
      part += n;
      records.push_back(std::move(r));
    }
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
      shares[first] = train::reward_loss(rows, scores.data(), 1.0 / double(s.records.size()), dscores.data(), first, n);
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
}
