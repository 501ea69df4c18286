#pragma once
// Checkpoints as HuggingFace model directories: model.safetensors with GPT2LMHeadModel's (or
// OpenAIGPTLMHeadModel's, BertForPreTraining's, RobertaForMaskedLM's) tensor names, config.json with its
// config keys, the tokenizer files, and
// trainer_state.safetensors (AdamW moments, step, data position) for an exact resume. A checkpoint is
// written into a temporary directory and renamed into place, then run/latest is pointed at it, so a
// crash never leaves a half-written checkpoint behind `latest`.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/bert.h"
#include "nn/gpt.h"
#include "nn/optimizer.h"

namespace lmpipe::train {

struct TrainerState {
  uint64_t step = 0;            // optimizer steps done
  uint64_t tokens = 0;          // tokens trained on (for the metrics' x axis)
  nlohmann::json data;          // the loader's position
  nlohmann::json settings;      // what the run was started with (for resume checks and humans)
  std::vector<float> adam_m, adam_v;
  uint64_t adam_steps = 0;
};

// What a checkpoint holds besides the model, as save_checkpoint takes it: the moments are views of
// the optimizer's own buffers, so saving a GPT-2 run does not copy its gigabyte of AdamW state.
struct TrainerStateToSave {
  uint64_t step = 0, tokens = 0;
  nlohmann::json data, settings;
  std::span<const float> adam_m, adam_v;
  uint64_t adam_steps = 0;
};

// Writes run_dir/step-<step>/ and points run_dir/latest at it; returns the directory. vocab_dir (may be
// empty) holds the tokenizer files to copy; state may be null (a model only).
std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::Gpt<float>& model,
                            const std::string& vocab_dir, const TrainerStateToSave* state);
std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::Bert<float>& model,
                            const std::string& vocab_dir, const TrainerStateToSave* state);

template <class Config>
struct Loaded {
  Config config;
  nn::Buffer<float> params;  // in the model's layout for config: move it into the model's params()
  std::optional<TrainerState> state;
  std::string dir;
};
using LoadedModel = Loaded<nn::GptConfig>;     // a decoder
using LoadedEncoder = Loaded<nn::BertConfig>;  // BERT or RoBERTa

// Reads a checkpoint directory: ours (run/step-N, run/latest, or run itself for its latest), or one transformers saved for a GPT-2
// or OpenAI GPT model (model.safetensors and config.json). The trainer state (AdamW's moments, twice the
// model's size) is read only when asked for: to resume. Throws Error naming what is missing or wrong.
enum class TrainerStateUse { kSkip, kLoad };
LoadedModel load_checkpoint(const std::string& dir, TrainerStateUse state = TrainerStateUse::kSkip);
// The same for a BERT or RoBERTa checkpoint (ours, or one transformers saved: BertForPreTraining or
// RobertaForMaskedLM and their base models).
LoadedEncoder load_encoder_checkpoint(const std::string& dir, TrainerStateUse state = TrainerStateUse::kSkip);

// config.json's model_type in a checkpoint directory (or run directory): "gpt2", "openai-gpt", "bert",
// "roberta"; throws Error when there is none.
std::string checkpoint_model_type(const std::string& dir);

// The tokenizer files to put in checkpoints: `vocab` when given, else a shipped vocabulary whose
// fingerprint is the data's; "" (with a warning on stderr unless quiet) when none matches.
std::string find_tokenizer_dir(const std::string& vocab, const std::string& fingerprint, bool quiet);

}  // namespace lmpipe::train
