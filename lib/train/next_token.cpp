// The next-token objective of GPT and GPT-2, on two kinds of data:
// - windows shards (make-pairs --task causal) of T + 1 ids, the first T the inputs and the last T their
//   targets, the loss the mean cross-entropy over every target (pretraining);
// - chat shards (make-chat), InstructGPT's supervised fine-tuning: only the tokens the loss mask marks
//   (what the assistant says) are targets, the loss the mean cross-entropy over those of the whole step;
//   a micro-batch is as long as its longest record, and conversations packed into one record each start
//   at position 0 and attend within themselves.
// The model's threads take shares of each micro-batch's sequences (nn/gpt_replicas.h) unless
// --thread-parallel ops.
#include <algorithm>
#include <cmath>
#include <memory>
#include <span>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/gpt.h"
#include "nn/layers.h"
#include "nn/gpt_replicas.h"
#include "nn/runtime.h"
#include "train/chat_batch.h"
#include "train/gpt_trainee.h"
#include "train/objective.h"

namespace lmpipe::train {
namespace {

// count windows of T + 1 ids from loader, split into inputs and next-token targets, appended.
void append_windows(RecordLoader& loader, size_t count, size_t T, std::vector<uint32_t>& inputs,
                    std::vector<uint32_t>& targets) {
  loader.next(count, [&](const io::RecordView& r, const std::string& path) {
    if (r.ids.size() != T + 1)
      throw Error(fmt::format("{}: a window of {} ids, but this step needs {} (make-pairs --task causal --max-len {})",
                              path, r.ids.size(), T + 1, T));
    inputs.insert(inputs.end(), r.ids.begin(), r.ids.end() - 1);
    targets.insert(targets.end(), r.ids.begin() + 1, r.ids.end());
  });
}

class NextToken final : public Objective {
 public:
  explicit NextToken(const ObjectiveSetup& s) : options_(s.options), shape_(s.shape), world_(s.world) {
    const auto* config = std::get_if<nn::GptConfig>(&s.config);
    if (config == nullptr)
      throw UsageError(fmt::format("--objective next-token trains a decoder (--arch gpt or gpt1), not a {} model",
                                   nn::model_type(s.config)));
    config_ = *config;
    if (config_.head != nn::GptHead::kLm)
      throw UsageError("--objective next-token trains a language model; this one has a score head (a reward model: "
                       "--objective reward)");
    // --thread-parallel batch (the default): a share of each micro-batch's sequences per thread.
    batch_threads_ = options_.thread_parallel == "ops" ? 1 : std::min(size_t(nn::compute_threads()), shape_.micro);
    // The step's gradient is the mean over every micro-batch of every rank.
    parts_ = shape_.accumulation * size_t(world_.size());
    const DataSet* data = s.data ? s.data : s.val;
    chat_ = data != nullptr && data->header.kind == io::RecordKind::kChat;
  }

  nlohmann::ordered_json dry_run(size_t T) const override {
    const size_t micro = shape_.micro;
    // The LM head's logits come in chunks, one chunk per share of the micro-batch.
    const size_t share_rows = (micro + batch_threads_ - 1) / batch_threads_ * T;
    const uint64_t activations = config_.activation_floats(micro, T) * 4 + batch_threads_ *
                                 uint64_t(std::min(nn::kHeadRowsPerChunk, share_rows)) * config_.vocab_size * 4;
    nlohmann::ordered_json j = dry_run_json(config_, config_.parameter_count(), micro, T, activations);
    const uint64_t replica_grads = (batch_threads_ - 1) * config_.parameter_count() * 4;
    j["batch_threads"] = batch_threads_;
    j["bytes_replica_grads"] = replica_grads;
    j["bytes_total"] = j["bytes_total"].get<uint64_t>() + replica_grads;
    j["flops_per_token"] = config_.training_flops_per_token(T);
    return j;
  }

  void build(std::optional<nn::Buffer<float>> loaded, uint64_t seed) override {
    gpt_.build(config_, std::move(loaded), seed, batch_threads_);
  }
  nn::Buffer<float>& params() override { return gpt_.model->params(); }
  nn::Buffer<float>& grads() override { return gpt_.model->grads(); }
  const nn::ParameterLayout& layout() const override { return gpt_.model->layout(); }

  void fetch(RecordLoader& loader, size_t length, uint64_t, uint64_t) override {
    T_ = length;
    loss_ = 0;
    if (chat_) return fetch_chat(loader, length);
    inputs_.clear();
    targets_.clear();
    append_windows(loader, shape_.share, T_, inputs_, targets_);
  }

  void forward_backward(size_t m, uint64_t dropout_key) override {
    gpt_.replicas->set_dropout_key(dropout_key);
    if (chat_) {
      // Each micro-batch's mean, weighted by its share of the step's targets: the step's mean over them all.
      const ChatRows& r = chat_rows_[m];
      if (step_targets_ == 0) return;
      const double weight = double(r.targets_counted) / step_targets_;
      loss_ += gpt_.replicas->forward_backward(r.inputs.data(), r.targets.data(), shape_.micro, r.Tn, float(weight),
                                           r.positions.data()) *
               weight;
      return;
    }
    const size_t rows = shape_.micro * T_;
    loss_ += gpt_.replicas->forward_backward(inputs_.data() + m * rows, targets_.data() + m * rows, shape_.micro, T_,
                                         1.0f / float(parts_)) /
             double(parts_);
  }

  std::optional<double> gather_gradients() override { return gpt_.replicas->reduce_grads(); }
  std::span<double> step_sums() override { return {&loss_, 1}; }
  double step_loss() const override { return loss_; }
  void log_step(nlohmann::json& record) const override {
    record["loss"] = loss_;
    if (chat_) record["targets"] = uint64_t(step_targets_);
  }

  void eval_start() override { eval_sums_[0] = eval_sums_[1] = 0; }

  void eval_batch(RecordLoader& loader, size_t n, size_t length, uint64_t) override {
    if (chat_) {
      make_chat_rows(take_chat_records(loader, n, length), eval_chat_);
      if (eval_chat_.targets_counted == 0) return;
      eval_sums_[0] += gpt_.replicas->forward(eval_chat_.inputs.data(), eval_chat_.targets.data(), n, eval_chat_.Tn,
                                          eval_chat_.positions.data()) *
                       double(eval_chat_.targets_counted);
      eval_sums_[1] += double(eval_chat_.targets_counted);
      return;
    }
    eval_inputs_.clear();
    eval_targets_.clear();
    append_windows(loader, n, length, eval_inputs_, eval_targets_);
    eval_sums_[0] += gpt_.replicas->forward(eval_inputs_.data(), eval_targets_.data(), n, length) * double(n * length);
    eval_sums_[1] += double(n * length);
  }

  std::span<double> eval_sums() override { return eval_sums_; }

  // The mean cross-entropy over every target evaluated (chat: the tokens the loss mask marks).
  Evaluation evaluation() const override { return cross_entropy_evaluation(eval_sums_[0], eval_sums_[1]); }

 private:
  // This rank's share of the step as micro-batches of chat rows, and the step's targets over every rank.
  void fetch_chat(RecordLoader& loader, size_t length) {
    const std::vector<ChatRecord> records = take_chat_records(loader, shape_.share, length);
    chat_rows_.resize(shape_.accumulation);
    step_targets_ = 0;
    for (size_t m = 0; m < shape_.accumulation; ++m) {
      make_chat_rows(std::span(records).subspan(m * shape_.micro, shape_.micro), chat_rows_[m]);
      step_targets_ += double(chat_rows_[m].targets_counted);
    }
    world_.allreduce_sum(&step_targets_, 1);
  }

  const PretrainOptions& options_;
  nn::GptConfig config_;
  StepShape shape_;
  Distributed& world_;
  size_t batch_threads_ = 1, parts_ = 1;
  GptTrainee gpt_;

  bool chat_ = false;  // chat shards, else windows
  size_t T_ = 0;  // the step's window length
  std::vector<uint32_t> inputs_, targets_;  // the step's micro-batches, one after another (windows)
  std::vector<ChatRows> chat_rows_;         // the step's micro-batches (chat)
  double step_targets_ = 0;                 // chat: the targets of the step's micro-batches on every rank
  ChatRows eval_chat_;
  double loss_ = 0;
  std::vector<uint32_t> eval_inputs_, eval_targets_;
  double eval_sums_[2] = {0, 0};  // loss x targets, targets
};

}  // namespace

std::unique_ptr<Objective> make_next_token(const ObjectiveSetup& setup) { return std::make_unique<NextToken>(setup); }

}  // namespace lmpipe::train
