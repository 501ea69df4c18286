#include "checkpoint/model_dir.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/hf_config.h"
#include "core/error.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "io/safetensors.h"
#include "nn/bert.h"
#include "nn/clip_vision.h"
#include "nn/gpt.h"
#include "nn/llava.h"

namespace lmpipe::checkpoint {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_config_json(const std::string& dir, const fs::path& path) {
  nlohmann::json config = nlohmann::json::parse(read_file((path / "config.json").string()), nullptr, false);
  if (config.is_discarded()) throw Error(fmt::format("{}: config.json is not valid JSON (cut short?)", dir));
  if (!config.is_object()) throw Error(fmt::format("{}: config.json is not a JSON object", dir));
  return config;
}

// The prefixes transformers' base models (GPT2Model, BertModel, RobertaModel) save their names without.
constexpr const char* kBaseModelPrefixes[] = {"transformer.", "bert.", "roberta."};

// Tensors transformers may save that are not parameters of ours: the causal-mask buffers of older GPT-2
// checkpoints, position-id buffers, and the output projections tied to the word embeddings.
bool is_skipped_tensor(const std::string& name) {
  for (const char* suffix : {".attn.bias", ".attn.masked_bias", "embeddings.position_ids"})
    if (name.ends_with(suffix)) return true;
  for (const char* tied : {"lm_head.weight", "language_model.lm_head.weight", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
                           "lm_head.decoder.weight", "lm_head.decoder.bias"})
    if (name == tied) return true;
  return false;
}

// A list of names for an error: the first few and how many more.
std::string name_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 6;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > kShown) s += fmt::format(" and {} more", names.size() - kShown);
  return s;
}

}  // namespace

nn::ParameterLayout parameter_layout(const nn::ModelConfig& config) {
  if (const auto* llava = std::get_if<nn::LlavaConfig>(&config)) return nn::llava_layout(*llava);
  if (const auto* gpt = std::get_if<nn::GptConfig>(&config)) return nn::Gpt<float>(*gpt, nn::ModelBuffers::kLayout).layout();
  return nn::Bert<float>(std::get<nn::BertConfig>(config), nn::ModelBuffers::kLayout).layout();
}

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names{"vocab.json", "merges.txt", "vocab.txt", "tokenizer.json"};
  return names;
}

void write_model_dir(const std::string& dir, const nn::ModelConfig& config, const float* params,
                     const TokenizerFiles& tokenizer) {
  const nn::ParameterLayout layout = parameter_layout(config);
  std::vector<io::TensorToWrite> tensors;
  for (const nn::TensorInfo& t : layout.tensors())
    tensors.push_back({t.name, "F32", t.shape, params + t.offset, t.size * sizeof(float)});
  io::write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomically(dir + "/config.json", to_hf_config(config).dump(2) + "\n");
  if (const auto* llava = std::get_if<nn::LlavaConfig>(&config))
    write_file_atomically(dir + "/preprocessor_config.json", preprocessor_config(llava->vision).dump(2) + "\n");
  for (const auto& [name, contents] : tokenizer.extra) write_file_atomically(dir + "/" + name, contents);
  if (tokenizer.vocab_dir.empty()) return;
  const std::string& vocab = tokenizer.vocab_dir;
  const fs::path source = fs::is_directory(vocab) ? fs::path(vocab) : fs::path(vocab).parent_path();
  for (const std::string& name : tokenizer_file_names())
    if (fs::is_regular_file(source / name)) write_file_atomically(dir + "/" + name, read_file((source / name).string()));
}

std::string resolve_model_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(fmt::format("{}: not a checkpoint directory", dir));
  fs::path path = fs::canonical(dir, ec);
  if (!fs::exists(path / "config.json") && fs::is_directory(path / "latest")) path = fs::canonical(path / "latest", ec);
  if (!fs::is_regular_file(path / "config.json")) throw Error(fmt::format("{}: no config.json", dir));
  if (!fs::is_regular_file(path / "model.safetensors")) throw Error(fmt::format("{}: no model.safetensors", dir));
  return path.string();
}

std::string model_dir_type(const std::string& dir) {
  const nlohmann::json config = read_config_json(dir, resolve_model_dir(dir));
  if (!config.contains("model_type") || !config["model_type"].is_string())
    throw Error(fmt::format("{}: config.json has no model_type", dir));
  return config["model_type"].get<std::string>();
}

namespace {

// The weights of a model of `wanted` parameters from model.safetensors, in the layout make_layout()
// gives: every tensor present with its shape (under its name, or a base model's name without a prefix),
// none left over but those `ignored` accepts. `what` describes the model for errors.
template <class MakeLayout, class Ignored>
nn::Buffer<float> read_weights(const std::string& dir, const std::string& model_dir, uint64_t wanted,
                               MakeLayout make_layout, const std::string& what, Ignored ignored) {
  const io::SafetensorsFile weights(model_dir + "/model.safetensors");
  // The shape must fit the weights before its layout is built or its buffer allocated: a config.json that
  // says 10^12 layers would otherwise take all memory or time.
  uint64_t stored = 0;
  for (const io::SafeTensor& t : weights.tensors()) stored += t.elements();
  if (wanted > stored)
    throw Error(fmt::format("{}: config.json describes {} parameters but model.safetensors holds {} values: its "
                            "sizes (layers, width, vocabulary, positions) do not match the weights",
                            dir, wanted, stored));
  const nn::ParameterLayout layout = make_layout();
  std::vector<const io::SafeTensor*> sources;
  std::vector<std::string> missing, misshapen, extra;
  std::set<std::string> used;
  for (const nn::TensorInfo& t : layout.tensors()) {
    const io::SafeTensor* s = weights.find(t.name);
    for (const char* prefix : kBaseModelPrefixes)
      if (s == nullptr && t.name.starts_with(prefix)) s = weights.find(t.name.substr(std::string_view(prefix).size()));
    sources.push_back(s);
    if (s == nullptr) {
      missing.push_back(t.name);
      continue;
    }
    used.insert(s->name);
    if (s->shape != t.shape)
      misshapen.push_back(fmt::format("{} [{}] (config.json: [{}])", t.name, fmt::join(s->shape, ", "), fmt::join(t.shape, ", ")));
  }
  for (const io::SafeTensor& t : weights.tensors())
    if (!used.contains(t.name) && !is_skipped_tensor(t.name) && !ignored(t.name)) extra.push_back(t.name);
  if (!missing.empty())
    throw Error(fmt::format("{}: model.safetensors has no tensor {}", dir, name_list(missing)));
  if (!misshapen.empty())
    throw Error(fmt::format("{}: model.safetensors' tensors do not have config.json's shapes: {}", dir, name_list(misshapen)));
  if (!extra.empty())
    throw Error(fmt::format("{}: model.safetensors has tensors that config.json's model ({}) does not have: {}", dir,
                            what, name_list(extra)));
  nn::Buffer<float> params(layout.total(), 0.0f);
  for (size_t i = 0; i < layout.tensors().size(); ++i)
    weights.read_floats(*sources[i], params.data() + layout.tensors()[i].offset);
  return params;
}

}  // namespace

LoadedModel load_model_dir(const std::string& dir) {
  LoadedModel loaded;
  loaded.dir = resolve_model_dir(dir);
  loaded.config = from_hf_config(read_config_json(dir, loaded.dir), dir);
  loaded.params = read_weights(
      dir, loaded.dir, nn::parameter_count(loaded.config), [&] { return parameter_layout(loaded.config); },
      nn::describe(loaded.config), [](const std::string&) { return false; });
  return loaded;
}

LoadedVision load_clip_vision(const std::string& dir) {
  LoadedVision loaded;
  loaded.dir = resolve_model_dir(dir);
  loaded.config = from_clip_config(read_config_json(dir, loaded.dir), dir);
  // A CLIPModel's text tower and its projections are not the vision tower's.
  loaded.params = read_weights(
      dir, loaded.dir, loaded.config.parameter_count(),
      [&] { return nn::ClipVision<float>(loaded.config, nn::ModelBuffers::kLayout).layout(); }, "a CLIP vision tower",
      [](const std::string& name) { return !name.starts_with("vision_model."); });
  return loaded;
}

}  // namespace lmpipe::checkpoint
