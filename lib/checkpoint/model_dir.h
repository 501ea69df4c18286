#pragma once
// Model directories as HuggingFace lays them out: model.safetensors with transformers' tensor names
// (GPT2LMHeadModel, OpenAIGPTLMHeadModel, BertForPreTraining, RobertaForMaskedLM,
// LlavaForConditionalGeneration), config.json with its
// config keys, and the tokenizer files, so that from_pretrained loads what lmpipe writes and lmpipe loads
// what transformers saved. Training and generation both read models through here; what a training run
// adds around them (step-N directories, latest, the trainer state) is lib/train/run_dir.h's.
#include <string>
#include <utility>
#include <vector>

#include "nn/buffer.h"
#include "nn/model_config.h"
#include "nn/parameters.h"

namespace lmpipe::checkpoint {

// The tensor layout of a model of this shape: transformers' names, shapes and order, the offsets into
// one parameter buffer.
nn::ParameterLayout parameter_layout(const nn::ModelConfig& config);

// The tokenizer files a model directory may hold.
const std::vector<std::string>& tokenizer_file_names();

// The tokenizer a model directory gets: the tokenizer files of a vocabulary directory (none when
// vocab_dir is empty), and files written beside them (name, contents), such as a chat model's
// tokenizer_config.json.
struct TokenizerFiles {
  std::string vocab_dir;
  std::vector<std::pair<std::string, std::string>> extra;
};

// Writes model.safetensors and config.json into the directory dir (which exists), and the tokenizer's
// files. Each file is written atomically.
void write_model_dir(const std::string& dir, const nn::ModelConfig& config, const float* params,
                     const TokenizerFiles& tokenizer);

struct LoadedModel {
  nn::ModelConfig config;
  nn::Buffer<float> params;  // in parameter_layout(config): move it into the model's params()
  std::string dir;           // the directory read (a run directory's latest checkpoint, resolved)
};

// The model directory `dir` names: dir itself, or the latest checkpoint when dir is a run directory
// (it has no config.json but a latest). Throws Error when it is not a model directory.
std::string resolve_model_dir(const std::string& dir);

// config.json's model_type ("gpt2", "openai-gpt", "bert", "roberta", "llava").
std::string model_dir_type(const std::string& dir);

// Reads a model directory. The weights must be exactly the tensors config.json's shape has (a base
// model's names without transformers' "transformer.", "bert." or "roberta." prefix are accepted, and the
// buffers and tied copies transformers may save are skipped); anything missing, extra or of another
// shape is an Error listing the tensors, found before the parameters are allocated.
LoadedModel load_model_dir(const std::string& dir);

// A CLIP vision tower from a transformers CLIPVisionModel or CLIPModel directory: its shape and its
// weights in nn::ClipVision's layout (vision_model.*; a CLIPModel's text tower and projections are left).
// Checked as load_model_dir checks a model.
struct LoadedVision {
  nn::VisionConfig config;
  nn::Buffer<float> params;
  std::string dir;
};
LoadedVision load_clip_vision(const std::string& dir);

}  // namespace lmpipe::checkpoint
