#include "train/model_setup.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "nn/llava.h"
#include "tok/vocab.h"

namespace lmpipe::train {
namespace {

bool is_decoder_arch(std::string_view arch) { return arch == "gpt" || arch == "gpt1"; }

// LLaVA's decoder is GPT-2's layout; its shape comes from the same flags.
bool text_arch(std::string_view arch) { return is_decoder_arch(arch) || arch == "llava"; }

std::string_view default_preset(std::string_view arch) {
  if (arch == "gpt1") return "gpt";
  if (arch == "bert") return "bert-base";
  if (arch == "roberta") return "roberta-base";
  return "gpt2";
}

}  // namespace

nn::ModelConfig model_from_flags(const PretrainOptions& o, float dropout, uint32_t data_vocab, size_t data_len) {
  if (o.arch != "gpt" && o.arch != "gpt1" && o.arch != "bert" && o.arch != "roberta" && o.arch != "llava")
    throw UsageError(fmt::format("unknown --arch {}", o.arch));
  const std::string preset = !o.preset.empty() ? o.preset : std::string(default_preset(o.arch));
  std::optional<nn::ModelConfig> config = nn::find_preset(preset);
  if (!config) throw UsageError(fmt::format("unknown --preset {}", preset));
  // Decoders take any decoder shape (--arch decides GPT-2's or GPT's layout); encoders their own.
  auto* gpt = std::get_if<nn::GptConfig>(&*config);
  if (text_arch(o.arch) ? gpt == nullptr : nn::model_type(*config) != o.arch)
    throw UsageError(fmt::format("--preset {} is not a {} shape", preset, o.arch));
  if (gpt != nullptr) gpt->arch = o.arch == "gpt1" ? nn::GptArch::kGpt1 : nn::GptArch::kGpt2;

  nn::TransformerShape& s = nn::shape_of(*config);
  if (o.n_layer) s.n_layer = o.n_layer;
  if (o.n_head) s.n_head = o.n_head;
  if (o.d_model) {
    s.d_model = o.d_model;
    if (!o.d_ff) s.d_ff = 4 * o.d_model;
  }
  if (o.d_ff) s.d_ff = o.d_ff;
  if (o.max_len) s.max_len = o.max_len;
  s.vocab_size = o.vocab_size ? o.vocab_size : (data_vocab ? data_vocab : s.vocab_size);
  s.dropout = dropout;
  if (data_len > s.max_len)
    throw UsageError(fmt::format("the data's sequences have {} positions, the model {}: raise --max-len or make shorter "
                                 "examples (make-pairs --max-len)",
                                 data_len, s.max_len));
  if (data_vocab > s.vocab_size)
    throw UsageError(fmt::format("the data's vocabulary has {} ids, the model {}", data_vocab, s.vocab_size));
  if (gpt != nullptr && gpt->arch == nn::GptArch::kGpt1 && s.d_ff != 4 * s.d_model)
    throw UsageError(fmt::format("--arch gpt1: the MLP is 4 x --d-model wide (transformers' OpenAIGPT config has no "
                                 "n_inner, so a checkpoint with --d-ff {} could not be loaded)",
                                 s.d_ff));
  nn::validate(*config);
  return *config;
}

void check_arch(const nn::ModelConfig& config, const std::string& arch, const std::string& dir) {
  const std::string type = nn::model_type(config);
  const bool fits = is_decoder_arch(arch) ? std::holds_alternative<nn::GptConfig>(config) : type == arch;
  if (!fits) throw UsageError(fmt::format("{} holds a {} model, not --arch {}", dir, type, arch));
}

void check_data_fits(const DataSet& data, const nn::ModelConfig& config, std::string_view flag) {
  const nn::TransformerShape& s = nn::shape_of(config);
  if (data.header.vocab_size > s.vocab_size)
    throw UsageError(fmt::format("{} {}: made with a vocabulary of {} ids, but the model has {} (was the model trained "
                                 "with another vocabulary?)",
                                 flag, data.paths.front(), data.header.vocab_size, s.vocab_size));
  if (data.max_length() > s.max_len)
    throw UsageError(fmt::format("{} {}: sequences of {} positions, but the model takes {} (make the examples with "
                                 "make-pairs --max-len {})",
                                 flag, data.by_length.rbegin()->second.front(), data.max_length(), s.max_len, s.max_len));
}

bool grow_vocabulary(checkpoint::LoadedModel& model, const DataSet& data, const std::string& data_vocab_dir,
                     bool quiet) {
  const size_t old_vocab = nn::shape_of(model.config).vocab_size, new_vocab = data.header.vocab_size;
  if (new_vocab <= old_vocab) return false;
  const std::string& path = data.paths.front();
  std::error_code ec;
  const bool model_has_tokenizer = std::any_of(
      checkpoint::tokenizer_file_names().begin(), checkpoint::tokenizer_file_names().end(),
      [&](const std::string& name) { return std::filesystem::is_regular_file(model.dir + "/" + name, ec); });
  if (model_has_tokenizer) {
    if (data_vocab_dir.empty())
      throw UsageError(fmt::format("--data {}: a vocabulary of {} ids, the model {}; give the data's vocabulary with -v "
                                   "to check that it extends the model's",
                                   path, new_vocab, old_vocab));
    const tok::Vocab model_vocab = tok::load_vocab(model.dir), data_vocab = tok::load_vocab(data_vocab_dir);
    const bool extends = model_vocab.size() == old_vocab && data_vocab.size() == new_vocab &&
                         std::equal(model_vocab.tokens.begin(), model_vocab.tokens.end(), data_vocab.tokens.begin());
    if (!extends)
      throw UsageError(fmt::format("--data {}: made with a vocabulary of {} ids that does not extend the model's {} "
                                   "(its first {} tokens are not the model's)",
                                   path, new_vocab, old_vocab, old_vocab));
  } else if (!quiet) {
    std::fprintf(stderr, "pretrain: warning: %s has no tokenizer files to check that the data's vocabulary extends "
                         "its own\n", model.dir.c_str());
  }
  nn::ModelConfig grown = model.config;
  nn::shape_of(grown).vocab_size = new_vocab;
  const nn::ParameterLayout from = checkpoint::parameter_layout(model.config), to = checkpoint::parameter_layout(grown);
  nn::Buffer<float> params(to.total(), 0.0f);
  for (const nn::TensorInfo& t : to.tensors()) {
    const nn::TensorInfo* old = from.find(t.name);
    const float* src = model.params.data() + old->offset;
    float* dst = params.data() + t.offset;
    if (old->shape == t.shape) {
      std::copy_n(src, t.size, dst);
      continue;
    }
    // A row per token: the old rows, then their mean for each new one.
    const size_t row = old->size / old_vocab;
    std::copy_n(src, old->size, dst);
    std::vector<double> mean(row, 0.0);
    for (size_t r = 0; r < old_vocab; ++r)
      for (size_t c = 0; c < row; ++c) mean[c] += src[r * row + c];
    for (size_t r = old_vocab; r < new_vocab; ++r)
      for (size_t c = 0; c < row; ++c) dst[r * row + c] = float(mean[c] / double(old_vocab));
  }
  if (!quiet)
    std::fprintf(stderr, "pretrain: the token embedding grows from %zu to %zu rows for the data's vocabulary (new rows: "
                         "the mean of the old)\n", old_vocab, new_vocab);
  model.config = grown;
  model.params = std::move(params);
  return true;
}

uint32_t padding_id(const io::ShardHeader& header) {
  for (const char* role : {"eot", "pad", "unk"}) {
    const auto it = header.special_ids.find(role);
    if (it != header.special_ids.end()) return it->second;
  }
  throw UsageError("a reward model pads with the vocabulary's <|endoftext|>, padding or unknown token, and the data's "
                   "vocabulary has none");
}

void attach_score_head(checkpoint::LoadedModel& model, uint32_t pad_token_id, uint64_t seed) {
  auto& gpt = std::get<nn::GptConfig>(model.config);
  nn::GptConfig scored = gpt;
  scored.head = nn::GptHead::kScore;
  scored.pad_token_id = pad_token_id;
  const nn::ParameterLayout from = checkpoint::parameter_layout(model.config), to = checkpoint::parameter_layout(scored);
  nn::Buffer<float> params(to.total(), 0.0f);
  Rng rng(seed, {0x73636f7265ULL});  // "score"
  for (const nn::TensorInfo& t : to.tensors()) {
    float* dst = params.data() + t.offset;
    if (const nn::TensorInfo* old = from.find(t.name)) {
      std::copy_n(model.params.data() + old->offset, t.size, dst);
    } else {
      for (size_t i = 0; i < t.size; ++i) dst[i] = float(rng.normal() * 0.02);
    }
  }
  gpt = scored;
  model.params = std::move(params);
}

checkpoint::LoadedModel llava_start(const PretrainOptions& o, std::optional<checkpoint::LoadedModel> loaded,
                                    const io::ShardHeader* data_header, float dropout, uint32_t data_vocab,
                                    size_t data_len) {
  if (loaded && std::holds_alternative<nn::LlavaConfig>(loaded->config)) {
    if (!o.vision.empty() || !o.init_vision_from.empty())
      throw UsageError(fmt::format("{} is a LLaVA model with a vision tower of its own: --vision and --init-vision-from "
                                   "start a new one around a GPT",
                                   loaded->dir));
    return std::move(*loaded);
  }
  if (!o.vision.empty() && !o.init_vision_from.empty())
    throw UsageError("--vision makes a new vision tower, --init-vision-from loads one: give one of them");
  nn::LlavaConfig c;
  if (loaded) {
    const auto* gpt = std::get_if<nn::GptConfig>(&loaded->config);
    if (gpt == nullptr || gpt->arch != nn::GptArch::kGpt2 || gpt->head != nn::GptHead::kLm)
      throw UsageError(fmt::format("{} holds a {} model; LLaVA's decoder starts from a GPT-2 language model",
                                   loaded->dir, nn::describe(loaded->config)));
    c.text = *gpt;
  } else {
    c.text = std::get<nn::GptConfig>(model_from_flags(o, dropout, data_vocab, data_len));
  }
  std::optional<checkpoint::LoadedVision> clip;
  if (!o.init_vision_from.empty()) {
    clip = checkpoint::load_clip_vision(o.init_vision_from);
    c.vision = clip->config;
  } else {
    c.vision = *nn::vision_preset(o.vision.empty() ? "clip-vit-b-32" : o.vision);
  }
  c.vision.feature_layer = o.vision_feature_layer;
  c.projector = o.projector == "linear" ? nn::Projector::kLinear : nn::Projector::kMlp2x;
  if (data_header == nullptr || !data_header->extra.contains("image_token") ||
      !data_header->extra["image_token"].contains("id") || !data_header->extra["image_token"]["id"].is_number_unsigned())
    throw UsageError("--arch llava trains on images shards whose header names the picture's placeholder (make-images)");
  c.image_token = data_header->extra["image_token"]["id"].get<uint32_t>();
  try {
    c.validate();
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--arch llava: {}", e.what()));
  }
  // Every part drawn from seed, then the loaded ones put in place.
  nn::Llava<float> model(c, nn::ModelBuffers::kInference);
  model.init(o.seed);
  if (clip) std::copy(clip->params.begin(), clip->params.end(), model.params().begin());
  if (loaded) std::copy(loaded->params.begin(), loaded->params.end(), model.params().begin() + ptrdiff_t(model.language_offset()));
  checkpoint::LoadedModel assembled;
  assembled.config = c;
  assembled.params = std::move(model.params());
  assembled.dir = loaded ? loaded->dir : "";
  return assembled;
}

void check_same_vocabulary(const DataSet& data, const DataSet& val) {
  const io::ShardHeader &d = data.header, &v = val.header;
  const bool both_known = !d.vocab_fingerprint.empty() && !v.vocab_fingerprint.empty();
  if (d.vocab_size != v.vocab_size || (both_known && d.vocab_fingerprint != v.vocab_fingerprint))
    throw UsageError(fmt::format("--val {} was made with another vocabulary than --data {} ({} ids, {} ids)",
                                 val.paths.front(), data.paths.front(), v.vocab_size, d.vocab_size));
}

}  // namespace lmpipe::train
