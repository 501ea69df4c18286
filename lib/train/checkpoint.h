#pragma once
// Checkpoints as HuggingFace model directories: model.safetensors with GPT2LMHeadModel's (or
// OpenAIGPTLMHeadModel's) tensor names, config.json with its config keys, the tokenizer files, and
// trainer_state.safetensors (AdamW moments, step, data position) for an exact resume. A checkpoint is
// written into a temporary directory and renamed into place, then run/latest is pointed at it, so a
// crash never leaves a half-written checkpoint behind `latest`.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/gpt.h"
#include "nn/optimizer.h"

namespace lmpipe::train {

struct TrainerState {
  uint64_t step = 0;            // optimizer steps done
  nlohmann::json data;          // the loader's position
  nlohmann::json settings;      // what the run was started with (for resume checks and humans)
  std::vector<float> adam_m, adam_v;
  uint64_t adam_steps = 0;
};

// Writes run_dir/step-<step>/ and points run_dir/latest at it; returns the directory. vocab_dir (may be
// empty) holds the tokenizer files to copy; state may be null (a model only).
std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::Gpt<float>& model,
                            const std::string& vocab_dir, const TrainerState* state);

struct LoadedModel {
  nn::GptConfig config;
  std::vector<float> params;  // in nn::Gpt's layout for config
  std::optional<TrainerState> state;
  std::string dir;
};

// Reads a checkpoint directory: ours (run/step-N or run/latest), or one transformers saved for a GPT-2
// or OpenAI GPT model (model.safetensors and config.json). Throws Error naming what is missing or wrong.
LoadedModel load_checkpoint(const std::string& dir);

}  // namespace lmpipe::train
