#pragma once
// A training run's directory: a checkpoint per save, run/step-N/, each a model directory
// (lib/checkpoint/model_dir.h) plus trainer_state.safetensors (AdamW's moments, the step, the data
// position) for an exact resume, and run/latest pointing at the newest complete one. A checkpoint is
// written into a temporary directory and renamed into place before latest moves, so a crash never leaves
// a half-written checkpoint behind latest. One process trains into a run directory at a time: it holds
// the directory's lock (run/.lock) while it writes there.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "io/shard_header.h"
#include "nn/model_config.h"

namespace lmpipe::train {

struct TrainerState {
  uint64_t step = 0;            // optimizer steps done
  uint64_t tokens = 0;          // tokens trained on (for the metrics' x axis)
  nlohmann::json data;          // the loader's position
  nlohmann::json settings;      // what the run was started with (for resume checks and humans)
  std::vector<float> adam_m, adam_v;
  uint64_t adam_steps = 0;
};

// What a checkpoint holds besides the model, as save_checkpoint takes it: the moments are views of the
// optimizer's own buffers, so saving a GPT-2 run does not copy its gigabyte of AdamW state.
struct TrainerStateToSave {
  uint64_t step = 0, tokens = 0;
  nlohmann::json data, settings;
  std::span<const float> adam_m, adam_v;
  uint64_t adam_steps = 0;
};

// The lock of a run directory, held from construction to destruction: the directory is made if missing,
// and the temporaries a killed run left (.step-N.tmp-*, .latest.tmp) are removed once the lock is held.
// Throws Error naming the process that holds it (flock: the lock dies with its process, kill -9 too).
class RunLock {
 public:
  // program names the holder in the lock file (for the message a second process gets).
  RunLock(const std::string& run_dir, std::string_view program);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// What a run directory already holds of a run (latest, step-N, a metrics.jsonl with records): "" when
// nothing.
std::string existing_run(const std::string& run_dir);
// Removes a run's checkpoints, latest, metrics.jsonl and loss.svg (pretrain --overwrite).
void clear_run(const std::string& run_dir);

// Writes run_dir/step-<step>/ and points run_dir/latest at it; returns the directory. state may be null (a
// model only). extra, when given, writes more into the checkpoint's staging directory before it is
// committed (rlhf's value model, in a subdirectory).
std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::ModelConfig& config, const float* params,
                            const checkpoint::TokenizerFiles& tokenizer, const TrainerStateToSave* state,
                            const std::function<void(const std::string& staging)>& extra = {});

// Writes dir/trainer_state.safetensors.
void write_trainer_state(const std::string& dir, const TrainerStateToSave& state);

// The tokenizer files to put in the run's checkpoints: `vocab` when given, else the vocabulary the data's
// header names (make-chat records its -v) or a shipped vocabulary, whichever has the data's fingerprint;
// "" when none does.
std::string find_tokenizer_dir(const std::string& vocab, const io::ShardHeader& data);

// The trainer state of a checkpoint directory, whose optimizer moments must have `moments` values when that
// is given (else the caller checks them). Throws Error when there is none or it does not fit.
TrainerState load_trainer_state(const std::string& checkpoint_dir, std::optional<size_t> moments);

}  // namespace lmpipe::train
