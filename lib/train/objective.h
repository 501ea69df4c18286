#pragma once
// What differs between training objectives: next tokens for GPT, masked tokens (and the next sentence)
// for BERT and RoBERTa, and the objectives to come. An objective owns the model it trains, turns records
// into its batches, computes its loss and gradients, and sums its metrics; the training loop
// (train/trainer.cpp) does the rest once for all of them: dry run, evaluation only, resume, ranks,
// reduction, clipping, the update, logs, plots and checkpoints.
//
// Adding an objective is one file that implements this interface and a make_ function, and a row in
// the table of train/objectives.cpp; the man page's OBJECTIVES section says which flags it reads.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/shard_format.h"
#include "nn/buffer.h"
#include "nn/model_config.h"
#include "nn/parameters.h"
#include "train/distributed.h"
#include "train/pretrain.h"
#include "train/record_loader.h"
#include "train/training_data.h"

namespace lmpipe::train {

// How a rank's share of each step's batch is split: micro-batches of `micro` sequences, `accumulation` of
// them, `share` sequences in all (the global batch over the ranks).
struct StepShape {
  size_t micro = 0, accumulation = 0, share = 0;
};

// What an objective is made from.
struct ObjectiveSetup {
  const PretrainOptions& options;
  const nn::ModelConfig& config;  // the model to train or evaluate
  const DataSet* data = nullptr;  // the training data (null when only evaluating)
  const DataSet* val = nullptr;   // the validation data (null when there is none)
  StepShape shape;                // how this rank's share of a step splits into micro-batches
  Distributed& world;
};

// An evaluation's figures, as the loop reports them.
struct Evaluation {
  nlohmann::ordered_json summary;  // --eval-only's JSON line
  nlohmann::json logged;           // the metrics record's fields (val_loss, ...)
  std::string text;                // for the progress line on stderr: "val loss 1.8437 (ppl 6.32)"
};

class Objective {
 public:
  virtual ~Objective() = default;

  // --dry-run's JSON for training at T positions: the shape and the bytes a step needs, computed without
  // allocating anything.
  virtual nlohmann::ordered_json dry_run(size_t T) const = 0;

  // Allocates the model (parameters, gradients) and sets its parameters: `loaded` (in the model's layout)
  // when given, else the model's initialisation from seed.
  virtual void build(std::optional<nn::Buffer<float>> loaded, uint64_t seed) = 0;
  virtual nn::Buffer<float>& params() = 0;
  // The gradients of layout().trained_range(): grads()[i] is params()[trained_range().first + i]'s (all
  // of params() unless the layout freezes tensors at its ends).
  virtual nn::Buffer<float>& grads() = 0;
  virtual const nn::ParameterLayout& layout() const = 0;

  // A training step, in the loop's order. fetch takes this rank's share of the step's records from loader
  // (its micro-batches at `length` positions); `first` is the place of the first of them in the step's
  // global order, the same for any number of ranks.
  virtual void fetch(RecordLoader& loader, size_t length, uint64_t step, uint64_t first) = 0;
  // Micro-batch m forward and backward with dropout keyed by dropout_key: adds its part of the step's
  // gradient to grads().
  virtual void forward_backward(size_t m, uint64_t dropout_key) = 0;
  // After the last micro-batch: adds gradients held apart (per thread) into grads(). Returns their sum of
  // squares when it came with that pass (then the loop needs no pass of its own for the norm).
  virtual std::optional<double> gather_gradients() = 0;
  // The step's sums that ranks add up (loss sums, counts); step_loss and log_step read them afterwards.
  virtual std::span<double> step_sums() = 0;
  virtual double step_loss() const = 0;
  // The objective's fields of the step's metrics record: loss and its own figures.
  virtual void log_step(nlohmann::json& record) const = 0;

  // An evaluation: eval_start, eval_batch for each of this rank's batches (n records at `length`
  // positions, the first the `first`-th record of the set in file order), the sums added across ranks,
  // then evaluation().
  virtual void eval_start() = 0;
  virtual void eval_batch(RecordLoader& loader, size_t n, size_t length, uint64_t first) = 0;
  virtual std::span<double> eval_sums() = 0;
  virtual Evaluation evaluation() const = 0;
};

// An objective pretrain can train: its --objective name, the flags it reads beyond the loop's (for
// --help), the record kinds it takes, and how to make one.
struct ObjectiveInfo {
  std::string_view name;
  std::string_view summary;
  std::vector<io::RecordKind> kinds;
  std::unique_ptr<Objective> (*make)(const ObjectiveSetup& setup);
  bool score_head = false;  // trains a decoder with a scalar head (nn::GptHead::kScore), not an LM head
};

// --dry-run's JSON for a model: its shape and the bytes a training step needs (weights; gradients and
// AdamW's two moments; activation_bytes of one micro-batch of `micro` sequences of seq_len positions).
nlohmann::ordered_json dry_run_json(const nn::TransformerShape& shape, uint64_t parameters, size_t micro, size_t seq_len,
                                    uint64_t activation_bytes);

// The evaluation of a language-model loss: the mean cross-entropy over the targets evaluated (the sum of
// their losses over their count), its perplexity and the count.
Evaluation cross_entropy_evaluation(double loss_sum, double targets);

// Every registered objective (train/objectives.cpp).
const std::vector<ObjectiveInfo>& objectives();
// The objective of that name; UsageError listing the names when there is none.
const ObjectiveInfo& find_objective(std::string_view name);
// The objective an architecture trains with when --objective is not given.
std::string_view default_objective(std::string_view arch);

}  // namespace lmpipe::train
