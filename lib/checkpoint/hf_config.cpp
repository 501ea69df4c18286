#include "checkpoint/hf_config.h"

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"
#include "lmpipe/version.h"

namespace lmpipe::checkpoint {
namespace {

// A float as the double with the same shortest decimal form (1e-05, not 9.999999747378752e-06).
double shortest(float x) { return std::stod(fmt::format("{}", x)); }

// Reads config.json's values; every error names the file, the key and what is wrong with its value.
class ConfigReader {
 public:
  // section: the key of a nested config ("vision_config"), named in errors.
  ConfigReader(const nlohmann::json& j, const std::string& where, std::string section = "")
      : j_(j), where_(where), section_(std::move(section)) {}
  const nlohmann::json& json() const { return j_; }

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  // A whole number of at least `least`.
  size_t size(const char* key, size_t least = 1) const {
    if (!has(key)) fail(fmt::format("has no \"{}\"", key));
    const nlohmann::json& v = j_[key];
    if (v.is_number_unsigned()) {
      const auto n = v.get<uint64_t>();
      if (n < least) fail(fmt::format("\"{}\" is {}: it must be at least {}", key, n, least));
      return size_t(n);
    }
    if (v.is_number_integer()) fail(fmt::format("\"{}\" is {}: it must be at least {}", key, v.dump(), least));
    fail(fmt::format("\"{}\" is {}, not a whole number", key, v.dump()));
  }
  size_t size_or(const char* key, size_t fallback, size_t least = 1) const {
    return has(key) ? size(key, least) : fallback;
  }

  float number_or(const char* key, float fallback) const {
    if (!has(key)) return fallback;
    const nlohmann::json& v = j_[key];
    // Finite as the float the model keeps, not only as the double JSON holds (1e300 is not a float).
    if (!v.is_number() || !std::isfinite(v.get<float>())) fail(fmt::format("\"{}\" is {}, not a finite number", key, v.dump()));
    return v.get<float>();
  }

  std::string text_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_string()) fail(fmt::format("\"{}\" is {}, not a string", key, j_[key].dump()));
    return j_[key].get<std::string>();
  }

  bool flag_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) fail(fmt::format("\"{}\" is {}, not true or false", key, j_[key].dump()));
    return j_[key].get<bool>();
  }

  // A whole number, negative or not.
  long integer_or(const char* key, long fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number_integer()) fail(fmt::format("\"{}\" is {}, not a whole number", key, j_[key].dump()));
    return j_[key].get<long>();
  }

  // A nested config object.
  ConfigReader section(const char* key) const {
    if (!has(key) || !j_[key].is_object()) fail(fmt::format("has no \"{}\" object", key));
    return ConfigReader(j_[key], where_, section_ + key + " ");
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: config.json {}{}", where_, section_, what));
  }

 private:
  const nlohmann::json& j_;
  const std::string& where_;
  std::string section_;
};

// GPT2Config's keys, or OpenAIGPTConfig's (no n_ctx or n_inner; "afn", whose "gelu" is OpenAIGPT's own tanh
// approximation: it has no "gelu_new").
nlohmann::ordered_json gpt_config(const nn::GptConfig& c) {
  const bool gpt2 = c.arch == nn::GptArch::kGpt2;
  const double p = c.dropout;
  const bool score = c.head == nn::GptHead::kScore;
  const char* architecture = score ? (gpt2 ? "GPT2ForSequenceClassification" : "OpenAIGPTForSequenceClassification")
                                   : (gpt2 ? "GPT2LMHeadModel" : "OpenAIGPTLMHeadModel");
  nlohmann::ordered_json j = {{"architectures", {architecture}},
                              {"model_type", gpt2 ? "gpt2" : "openai-gpt"},
                              {"vocab_size", c.vocab_size},
                              {"n_positions", c.max_len}};
  if (gpt2) j["n_ctx"] = c.max_len;
  j["n_embd"] = c.d_model;
  j["n_layer"] = c.n_layer;
  j["n_head"] = c.n_head;
  if (gpt2) {
    j["n_inner"] = c.d_ff;
    j["activation_function"] = "gelu_new";  // the tanh approximation
  } else {
    j["afn"] = "gelu";
  }
  j["resid_pdrop"] = p;
  j["embd_pdrop"] = p;
  j["attn_pdrop"] = p;
  j["layer_norm_epsilon"] = shortest(c.ln_eps);
  j["initializer_range"] = 0.02;
  if (score) {  // one label: a scalar reward
    j["id2label"] = {{"0", "LABEL_0"}};
    j["label2id"] = {{"LABEL_0", 0}};
    j["pad_token_id"] = c.pad_token_id;
  }
  j["tie_word_embeddings"] = true;
  j["torch_dtype"] = "float32";
  j["lmpipe_version"] = LMPIPE_VERSION;
  return j;
}

// BertConfig's keys, or RobertaConfig's (whose positions start past pad_token_id, so the model's
// position offset is pad_token_id + 1).
nlohmann::ordered_json encoder_config(const nn::BertConfig& c) {
  const bool bert = c.arch == nn::EncoderArch::kBert;
  nlohmann::ordered_json j = {{"architectures", {bert ? "BertForPreTraining" : "RobertaForMaskedLM"}},
                              {"model_type", bert ? "bert" : "roberta"},
                              {"vocab_size", c.vocab_size},
                              {"hidden_size", c.d_model},
                              {"num_hidden_layers", c.n_layer},
                              {"num_attention_heads", c.n_head},
                              {"intermediate_size", c.d_ff},
                              {"hidden_act", c.gelu == nn::Gelu::kErf ? "gelu" : "gelu_new"},
                              {"hidden_dropout_prob", shortest(c.dropout)},
                              {"attention_probs_dropout_prob", shortest(c.dropout)},
                              {"max_position_embeddings", c.max_len + c.position_offset},
                              {"type_vocab_size", c.type_vocab_size},
                              {"initializer_range", 0.02},
                              {"layer_norm_eps", shortest(c.ln_eps)},
                              {"position_embedding_type", "absolute"}};
  if (bert) {
    j["pad_token_id"] = 0;
  } else {
    j["pad_token_id"] = c.position_offset - 1;
    j["bos_token_id"] = 0;
    j["eos_token_id"] = 2;
  }
  j["tie_word_embeddings"] = true;
  j["torch_dtype"] = "float32";
  j["lmpipe_version"] = LMPIPE_VERSION;
  return j;
}

nn::GptConfig read_gpt(const ConfigReader& r, const std::string& type) {
  nn::GptConfig c;
  c.arch = type == "gpt2" ? nn::GptArch::kGpt2 : nn::GptArch::kGpt1;
  c.vocab_size = r.size("vocab_size");
  c.max_len = r.size("n_positions");
  c.d_model = r.size("n_embd");
  c.n_layer = r.size("n_layer");
  c.n_head = r.size("n_head");
  c.d_ff = r.size_or("n_inner", 4 * c.d_model);  // transformers writes null for 4 x n_embd
  c.ln_eps = r.number_or("layer_norm_epsilon", 1e-5f);
  c.dropout = r.number_or("resid_pdrop", 0.0f);
  const std::string act = r.text_or(type == "gpt2" ? "activation_function" : "afn", "gelu_new");
  // For openai-gpt, "gelu" (its default) is the tanh GELU too: modeling_openai.py's ACT_FNS maps it to
  // gelu_new. For gpt2 it means the erf GELU, which these models do not compute.
  const bool tanh_gelu = act == "gelu_new" || act == "gelu_pytorch_tanh" || (type == "openai-gpt" && act == "gelu");
  if (!tanh_gelu) r.fail(fmt::format("asks for the activation {}, not the tanh GELU these models use", act));
  // GPT2Config switches for attention variants these models do not compute.
  if (type == "gpt2" && (!r.flag_or("scale_attn_weights", true) || r.flag_or("scale_attn_by_inverse_layer_idx", false) ||
                         r.flag_or("reorder_and_upcast_attn", false)))
    r.fail("asks for an attention variant (scale_attn_weights false, scale_attn_by_inverse_layer_idx or "
           "reorder_and_upcast_attn) that lmpipe does not compute");
  if (type == "openai-gpt" && c.d_ff != 4 * c.d_model) r.fail("describes an openai-gpt model whose MLP is not 4 x n_embd wide");
  // A sequence classifier is a reward model when it has one label.
  const auto architectures = r.json().find("architectures");
  if (architectures != r.json().end() && architectures->is_array() && !architectures->empty() &&
      (*architectures)[0].is_string() && (*architectures)[0].get<std::string>().ends_with("ForSequenceClassification")) {
    const auto labels = r.json().find("id2label");
    if (labels != r.json().end() && labels->is_object() && labels->size() != 1)
      r.fail(fmt::format("describes a classifier of {} labels; lmpipe's score head has one (a reward model)",
                         labels->size()));
    c.head = nn::GptHead::kScore;
    const size_t pad = r.size_or("pad_token_id", 0, 0);
    if (pad >= c.vocab_size) r.fail(fmt::format("\"pad_token_id\" is {}, past the vocabulary's {} ids", pad, c.vocab_size));
    c.pad_token_id = uint32_t(pad);
  }
  return c;
}

nn::BertConfig read_encoder(const ConfigReader& r, const std::string& type) {
  nn::BertConfig c;
  if (type == "roberta") {
    c.arch = nn::EncoderArch::kRoberta;
    c.position_offset = r.size_or("pad_token_id", 1, 0) + 1;
  }
  c.vocab_size = r.size("vocab_size");
  c.d_model = r.size("hidden_size");
  c.n_layer = r.size("num_hidden_layers");
  c.n_head = r.size("num_attention_heads");
  c.d_ff = r.size("intermediate_size");
  const size_t positions = r.size("max_position_embeddings");
  if (positions <= c.position_offset)
    r.fail(fmt::format("\"max_position_embeddings\" is {}, which leaves no positions past the padding offset", positions));
  c.max_len = positions - c.position_offset;
  c.type_vocab_size = r.size_or("type_vocab_size", 2);
  c.ln_eps = r.number_or("layer_norm_eps", 1e-12f);
  c.dropout = r.number_or("hidden_dropout_prob", 0.1f);
  const std::string act = r.text_or("hidden_act", "gelu");
  if (act == "gelu") {
    c.gelu = nn::Gelu::kErf;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh") {
    c.gelu = nn::Gelu::kTanh;
  } else {
    r.fail(fmt::format("asks for the activation {}, not a GELU lmpipe computes (gelu, gelu_new)", act));
  }
  const std::string positions_type = r.text_or("position_embedding_type", "absolute");
  if (positions_type != "absolute") r.fail(fmt::format("asks for {} positions, not absolute ones", positions_type));
  return c;
}

// CLIPVisionConfig's keys.
nlohmann::ordered_json vision_config(const nn::VisionConfig& v) {
  return {{"model_type", "clip_vision_model"},  {"hidden_size", v.d_model},
          {"intermediate_size", v.d_ff},        {"num_hidden_layers", v.n_layer},
          {"num_attention_heads", v.n_head},    {"num_channels", 3},
          {"image_size", v.image_size},         {"patch_size", v.patch_size},
          {"hidden_act", "quick_gelu"},         {"layer_norm_eps", shortest(v.ln_eps)},
          {"attention_dropout", 0.0},           {"initializer_range", 0.02},
          {"initializer_factor", 1.0}};
}

// LlavaConfig's keys, the vision tower's and the decoder's configs nested. LLaVA-1's one linear projector
// has no transformers class: "lmpipe_projector" names it for lmpipe (transformers cannot load that model).
nlohmann::ordered_json llava_config(const nn::LlavaConfig& c) {
  nlohmann::ordered_json text = gpt_config(c.text);
  text.erase("lmpipe_version");
  nlohmann::ordered_json j = {{"architectures", {"LlavaForConditionalGeneration"}},
                              {"model_type", "llava"},
                              {"image_token_index", c.image_token},
                              {"projector_hidden_act", "gelu"},
                              {"vision_feature_layer", c.vision.feature_layer},
                              {"vision_feature_select_strategy", "default"},
                              {"image_seq_length", c.vision.patches()},
                              {"vision_config", vision_config(c.vision)},
                              {"text_config", text},
                              {"tie_word_embeddings", true},
                              {"torch_dtype", "float32"}};
  if (c.projector == nn::Projector::kLinear) j["lmpipe_projector"] = "linear";
  j["lmpipe_version"] = LMPIPE_VERSION;
  return j;
}

nn::VisionConfig read_vision(const ConfigReader& r) {
  nn::VisionConfig v;
  v.d_model = r.size_or("hidden_size", 768);
  v.d_ff = r.size_or("intermediate_size", 3072);
  v.n_layer = r.size_or("num_hidden_layers", 12);
  v.n_head = r.size_or("num_attention_heads", 12);
  v.image_size = r.size_or("image_size", 224);
  v.patch_size = r.size_or("patch_size", 32);
  v.ln_eps = r.number_or("layer_norm_eps", 1e-5f);
  if (r.size_or("num_channels", 3) != 3) r.fail("describes pictures that are not RGB (\"num_channels\" is not 3)");
  const std::string act = r.text_or("hidden_act", "quick_gelu");
  if (act != "quick_gelu") r.fail(fmt::format("asks for the activation {}, not CLIP's quick_gelu", act));
  return v;
}

nn::LlavaConfig read_llava(const ConfigReader& r) {
  nn::LlavaConfig c;
  c.vision = read_vision(r.section("vision_config"));
  const ConfigReader text = r.section("text_config");
  const std::string text_type = text.text_or("model_type", "");
  if (text_type != "gpt2") r.fail(fmt::format("has a text_config of model_type \"{}\": lmpipe's LLaVA decoder is gpt2", text_type));
  c.text = read_gpt(text, text_type);
  const long image_token = r.integer_or("image_token_index", 32000);
  if (image_token < 0 || size_t(image_token) >= c.text.vocab_size)
    r.fail(fmt::format("\"image_token_index\" is {}, not an id of the decoder's {}", image_token, c.text.vocab_size));
  c.image_token = uint32_t(image_token);
  c.vision.feature_layer = int(r.integer_or("vision_feature_layer", -2));
  const std::string select = r.text_or("vision_feature_select_strategy", "default");
  if (select != "default") r.fail(fmt::format("asks for the {} feature selection; lmpipe takes the patches without the class token (default)", select));
  const std::string act = r.text_or("projector_hidden_act", "gelu");
  if (act != "gelu") r.fail(fmt::format("asks for the projector activation {}, not gelu", act));
  c.projector = r.text_or("lmpipe_projector", "mlp2x") == "linear" ? nn::Projector::kLinear : nn::Projector::kMlp2x;
  return c;
}

}  // namespace

nlohmann::ordered_json to_hf_config(const nn::ModelConfig& config) {
  if (const auto* gpt = std::get_if<nn::GptConfig>(&config)) return gpt_config(*gpt);
  if (const auto* llava = std::get_if<nn::LlavaConfig>(&config)) return llava_config(*llava);
  return encoder_config(std::get<nn::BertConfig>(config));
}

nn::ModelConfig from_hf_config(const nlohmann::json& j, const std::string& where) {
  const ConfigReader r(j, where);
  if (!j.is_object()) r.fail("is not a JSON object");
  const std::string type = r.text_or("model_type", "");
  nn::ModelConfig config;
  if (type == "gpt2" || type == "openai-gpt") {
    config = read_gpt(r, type);
  } else if (type == "bert" || type == "roberta") {
    config = read_encoder(r, type);
  } else if (type == "llava") {
    config = read_llava(r);
  } else {
    r.fail(fmt::format("names the model_type \"{}\", not one lmpipe computes (gpt2, openai-gpt, bert, roberta, llava)",
                       type));
  }
  try {
    nn::validate(config);
  } catch (const UsageError& e) {
    r.fail(e.what());
  }
  return config;
}

nlohmann::ordered_json preprocessor_config(const nn::VisionConfig& v) {
  return {{"image_processor_type", "CLIPImageProcessor"},
          {"do_resize", true},
          {"size", {{"shortest_edge", v.image_size}}},
          {"resample", 3},  // PIL's bicubic
          {"do_center_crop", true},
          {"crop_size", {{"height", v.image_size}, {"width", v.image_size}}},
          {"do_rescale", true},
          {"rescale_factor", 1.0 / 255.0},
          {"do_normalize", true},
          {"image_mean", {shortest(v.mean[0]), shortest(v.mean[1]), shortest(v.mean[2])}},
          {"image_std", {shortest(v.std[0]), shortest(v.std[1]), shortest(v.std[2])}},
          {"do_convert_rgb", true}};
}

nn::VisionConfig from_clip_config(const nlohmann::json& j, const std::string& where) {
  const ConfigReader r(j, where);
  if (!j.is_object()) r.fail("is not a JSON object");
  const std::string type = r.text_or("model_type", "");
  nn::VisionConfig v;
  if (type == "clip_vision_model") {
    v = read_vision(r);
  } else if (type == "clip") {
    v = read_vision(r.section("vision_config"));
  } else {
    r.fail(fmt::format("names the model_type \"{}\", not a CLIP vision tower (clip_vision_model, clip)", type));
  }
  try {
    v.validate();
  } catch (const UsageError& e) {
    r.fail(e.what());
  }
  return v;
}

}  // namespace lmpipe::checkpoint
