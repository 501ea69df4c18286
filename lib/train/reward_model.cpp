// The reward model of InstructGPT (Ouyang et al. 2022, arXiv 2203.02155, section 3.5): a GPT whose LM head
// is replaced by a scalar read at the last token of prompt + reply (nn::GptHead::kScore, transformers'
// GPT2ForSequenceClassification), trained on prefs shards (make-prefs) so that the reply a labeller chose
// scores above the other:
//   loss = -log sigmoid(r(x, y_chosen) - r(x, y_rejected))
// as TRL's RewardTrainer computes it (trl 0.12, reward_trainer.py: -logsigmoid(chosen - rejected).mean()),
// averaged over a record's pairs and then over the step's records (a prompt's comparisons are one batch
// element, as the paper trains them). --batch-size counts records. The model's threads take shares of each
// micro-batch's pairs (nn::GptReplicas::run_shares).
#include <algorithm>
#include <cmath>
#include <memory>
#include <span>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "nn/runtime.h"
#include "train/gpt_trainee.h"
#include "train/objective.h"
#include "train/pair_batch.h"

namespace lmpipe::train {
namespace {

class RewardModel final : public Objective {
 public:
  explicit RewardModel(const ObjectiveSetup& s) : shape_(s.shape), world_(s.world) {
    const auto* config = std::get_if<nn::GptConfig>(&s.config);
    if (config == nullptr || config->head != nn::GptHead::kScore)
      throw UsageError("--objective reward trains a decoder with a score head (--arch gpt; --init-from a language "
                       "model gets one)");
    config_ = *config;
    batch_threads_ = s.options.thread_parallel == "ops" ? 1 : size_t(nn::compute_threads());
    const DataSet* data = s.data ? s.data : s.val;
    max_len_ = data ? data->max_length() : config_.max_len;
  }

  nlohmann::ordered_json dry_run(size_t T) const override {
    // A record of one pair is two sequences.
    const size_t sequences = 2 * shape_.micro;
    nlohmann::ordered_json j = dry_run_json(config_, config_.parameter_count(), sequences, T,
                                            config_.activation_floats(sequences, T) * 4);
    const uint64_t replica_grads = (std::min(batch_threads_, shape_.micro) - 1) * config_.parameter_count() * 4;
    j["batch_threads"] = std::min(batch_threads_, shape_.micro);
    j["bytes_replica_grads"] = replica_grads;
    j["bytes_total"] = j["bytes_total"].get<uint64_t>() + replica_grads;
    return j;
  }

  void build(std::optional<nn::Buffer<float>> loaded, uint64_t seed) override {
    gpt_.build(config_, std::move(loaded), seed, batch_threads_);
  }
  nn::Buffer<float>& params() override { return gpt_.model->params(); }
  nn::Buffer<float>& grads() override { return gpt_.model->grads(); }
  const nn::ParameterLayout& layout() const override { return gpt_.model->layout(); }

  void fetch(RecordLoader& loader, size_t, uint64_t, uint64_t) override {
    const std::vector<PrefsRecord> records = take_prefs_records(loader, shape_.share, max_len_);
    rows_.resize(shape_.accumulation);
    for (size_t m = 0; m < shape_.accumulation; ++m)
      make_pair_rows(std::span(records).subspan(m * shape_.micro, shape_.micro), config_.pad_token_id, rows_[m]);
    step_ = {};
    step_records_ = double(shape_.share) * world_.size();
  }

  void forward_backward(size_t m, uint64_t dropout_key) override {
    gpt_.replicas->set_dropout_key(dropout_key);
    const PairRows& r = rows_[m];
    scores_.assign(2 * r.pairs, 0.0f);
    dscores_.assign(2 * r.pairs, 0.0f);
    std::vector<PairSums> shares(2 * r.pairs);  // at each share's first sequence, added in order afterwards
    gpt_.replicas->run_shares(2 * r.pairs, 2, [&](nn::Gpt<float>& model, size_t first, size_t n) {
      const uint32_t* inputs = r.inputs.data() + first * r.Tn;
      const uint32_t* last = r.last.data() + first;
      model.score(scores_.data() + first, inputs, last, n, r.Tn, true);
      shares[first] = reward_loss(r, scores_.data(), PairWeighting::kByRecord, 1.0 / step_records_, dscores_.data(),
                                  first, n);
      model.score_backward(dscores_.data() + first, inputs, last, n, r.Tn);
    });
    for (const PairSums& p : shares) step_.add(p);
  }

  std::optional<double> gather_gradients() override { return gpt_.replicas->reduce_grads(); }
  std::span<double> step_sums() override { return {&step_.loss, 4}; }
  double step_loss() const override { return step_.loss; }
  void log_step(nlohmann::json& record) const override {
    record["loss"] = step_.loss;
    record["accuracy"] = step_.pairs ? step_.correct / step_.pairs : 0.0;
    record["margin"] = step_.pairs ? step_.margin / step_.pairs : 0.0;
    record["pairs"] = uint64_t(step_.pairs);
  }

  void eval_start() override { eval_ = {}; }

  void eval_batch(RecordLoader& loader, size_t n, size_t, uint64_t) override {
    make_pair_rows(take_prefs_records(loader, n, max_len_), config_.pad_token_id, eval_rows_);
    const PairRows& r = eval_rows_;
    scores_.assign(2 * r.pairs, 0.0f);
    gpt_.replicas->run_shares(2 * r.pairs, 2, [&](nn::Gpt<float>& model, size_t first, size_t count) {
      model.score(scores_.data() + first, r.inputs.data() + first * r.Tn, r.last.data() + first, count, r.Tn, false);
    });
    eval_.add(reward_loss(r, scores_.data(), PairWeighting::kEach, 1.0, nullptr, 0, 2 * r.pairs));
  }

  std::span<double> eval_sums() override { return {&eval_.loss, 4}; }

  // Over every pair evaluated, each counted once: the mean loss, the share the model orders as the
  // labeller did, and the mean margin r_chosen - r_rejected.
  Evaluation evaluation() const override {
    const double pairs = eval_.pairs;
    const double loss = pairs ? eval_.loss / pairs : 0, accuracy = pairs ? eval_.correct / pairs : 0,
                 margin = pairs ? eval_.margin / pairs : 0;
    Evaluation e;
    e.summary = {{"loss", loss}, {"accuracy", accuracy}, {"margin", margin}, {"pairs", uint64_t(pairs)}};
    e.logged = {{"val_loss", loss}, {"val_accuracy", accuracy}, {"val_margin", margin}};
    e.text = fmt::format("val loss {:.4f}, accuracy {:.3f}, margin {:.3f}", loss, accuracy, margin);
    return e;
  }

 private:
  nn::GptConfig config_;
  StepShape shape_;
  Distributed& world_;
  size_t batch_threads_ = 1, max_len_ = 0;
  GptTrainee gpt_;
  std::vector<PairRows> rows_;  // the step's micro-batches
  PairRows eval_rows_;
  std::vector<float> scores_, dscores_;
  double step_records_ = 1;  // records of the step on every rank
  PairSums step_, eval_;
};

static_assert(sizeof(PairSums) == 4 * sizeof(double), "step_sums hands PairSums out as 4 doubles");

}  // namespace

std::unique_ptr<Objective> make_reward_model(const ObjectiveSetup& setup) { return std::make_unique<RewardModel>(setup); }

}  // namespace lmpipe::train
