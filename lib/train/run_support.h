#pragma once
// What the decoder and encoder training loops share: the settings a run records in its trainer state and
// checks on --resume, the warmup warning, and the stop on a non-finite loss or gradient.
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

#include "nn/optimizer.h"
#include "train/checkpoint.h"
#include "train/pretrain.h"
#include "train/seq_len_schedule.h"
#include "train/training_data.h"

namespace lmpipe::train {

// Checks the flags every run needs (data, -o and --steps to train; what --eval-only starts from; a global
// batch that ranks times micro-batches divide) and returns the micro-batch, the micro-batches per step on
// each rank, and each rank's share of the batch.
struct StepShape {
  size_t micro = 0, accumulation = 0, share = 0;
};
StepShape check_run_options(const PretrainOptions& o, bool have_data, size_t ranks);

// How many validation records an evaluation reads: --eval-iters batches of --batch-size, or all of them.
uint64_t eval_records(const PretrainOptions& o);

// The options as a rank runs them: ranks other than 0 print nothing and write no files.
PretrainOptions for_this_rank(const PretrainOptions& o, bool root);

// The model to start from: --resume's latest checkpoint (with its trainer state), --init-from's, or none.
template <class Config>
using CheckpointLoader = Loaded<Config> (*)(const std::string& dir, TrainerStateUse state);
template <class Config>
std::optional<Loaded<Config>> load_start(const PretrainOptions& o, CheckpointLoader<Config> load);

// The shape flags over a preset's config (GptConfig or BertConfig), the vocabulary the data's unless
// --vocab-size; throws UsageError when the data's sequences or ids do not fit.
template <class Config>
void apply_shape_flags(const PretrainOptions& o, float dropout, uint32_t data_vocab, size_t data_len, Config& config) {
  if (o.n_layer) config.n_layer = o.n_layer;
  if (o.n_head) config.n_head = o.n_head;
  if (o.d_model) {
    config.d_model = o.d_model;
    if (!o.d_ff) config.d_ff = 4 * o.d_model;
  }
  if (o.d_ff) config.d_ff = o.d_ff;
  if (o.max_len) config.max_len = o.max_len;
  config.vocab_size = o.vocab_size ? o.vocab_size : (data_vocab ? data_vocab : config.vocab_size);
  config.dropout = dropout;
  if (data_len > config.max_len)
    throw UsageError(fmt::format("the data's sequences have {} positions, the model {}: raise --max-len or make shorter "
                                 "examples (make-pairs --max-len)",
                                 data_len, config.max_len));
  if (data_vocab > config.vocab_size)
    throw UsageError(fmt::format("the data's vocabulary has {} ids, the model {}", data_vocab, config.vocab_size));
}

// --dry-run's JSON: the shape, and the bytes a training step needs (weights; gradients and AdamW's two
// moments; activations of one micro-batch, activation_bytes, which the caller knows for its model).
template <class Config>
nlohmann::ordered_json dry_run_json(const Config& c, size_t micro, size_t seq_len, uint64_t activation_bytes) {
  const uint64_t params = c.parameter_count();
  const uint64_t weights = params * 4, training_state = params * 4 * 3;
  return {{"parameters", params},        {"n_layer", c.n_layer},
          {"n_head", c.n_head},          {"d_model", c.d_model},
          {"d_ff", c.d_ff},              {"max_len", c.max_len},
          {"vocab_size", c.vocab_size},  {"micro_batch", micro},
          {"seq_len", seq_len},          {"bytes_weights", weights},
          {"bytes_grads_and_adamw", training_state}, {"bytes_activations", activation_bytes},
          {"bytes_total", weights + training_state + activation_bytes}};
}

nn::AdamWOptions adam_options(const Recipe& recipe);

// Puts a resumed run's optimizer and data position back; returns its step and sets tokens.
uint64_t resume_trainer(TrainerState& state, nn::AdamW& adam, TrainingData& loaders, uint64_t& tokens);

// The trainer state to save at the end of `step` (views of the optimizer's moments).
TrainerStateToSave trainer_state(uint64_t step, uint64_t tokens, const TrainingData& loaders, const nlohmann::json& settings,
                                 nn::AdamW& adam);

// The settings a run starts with: the data position means the same thing only for the same data, batch
// and lengths, so --resume checks these.
nlohmann::json run_settings(const std::vector<std::string>& data_paths, const PretrainOptions& o,
                            const SeqLenSchedule& schedule);
// Throws UsageError saying which setting differs from the resumed run's.
void check_resume_settings(const TrainerState& state, const std::vector<std::string>& data_paths,
                           const PretrainOptions& o, const SeqLenSchedule& schedule);

// On stderr unless quiet: a warmup at least as long as the run never reaches the peak rate.
void warn_about_warmup(const Recipe& recipe, const PretrainOptions& o);

// A step whose loss or gradient norm is not finite: throws Error naming the last good checkpoint, unless
// --skip-nonfinite (then returns, and the caller skips the update).
void stop_or_skip_nonfinite(const PretrainOptions& o, uint64_t step, double loss, double norm);

}  // namespace lmpipe::train
