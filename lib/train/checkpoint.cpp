#include "train/checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/output_file.h"
#include "core/paths.h"
#include "io/safetensors.h"
#include "lmpipe/version.h"
#include "tok/vocab.h"

namespace lmpipe::train {
namespace fs = std::filesystem;
namespace {

const char* const kTokenizerFiles[] = {"vocab.json", "merges.txt", "vocab.txt", "tokenizer.json"};

// A float as the double with the same shortest decimal form (1e-05, not 9.999999747378752e-06).
double shortest(float x) { return std::stod(fmt::format("{}", x)); }

// GPT2Config's keys, or OpenAIGPTConfig's (no n_ctx or n_inner; "afn", whose "gelu" is OpenAIGPT's own tanh
// approximation: it has no "gelu_new").
nlohmann::ordered_json hf_config(const nn::GptConfig& c) {
  const bool gpt2 = c.arch == nn::GptArch::kGpt2;
  const double p = c.dropout;
  nlohmann::ordered_json j = {{"architectures", {gpt2 ? "GPT2LMHeadModel" : "OpenAIGPTLMHeadModel"}},
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
  j["tie_word_embeddings"] = true;
  j["torch_dtype"] = "float32";
  j["lmpipe_version"] = LMPIPE_VERSION;
  return j;
}

// BertConfig's keys, or RobertaConfig's (whose positions start past pad_token_id, so the model's
// position offset is pad_token_id + 1).
nlohmann::ordered_json hf_config(const nn::BertConfig& c) {
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

nn::BertConfig encoder_config_from_hf(const nlohmann::json& j, const std::string& where) {
  const auto need = [&](const char* key) -> size_t {
    if (!j.contains(key) || !j[key].is_number_unsigned())
      throw Error(fmt::format("{}: config.json has no \"{}\"", where, key));
    return j[key].get<size_t>();
  };
  nn::BertConfig c;
  const std::string type = j.value("model_type", "");
  if (type == "bert") {
    c.arch = nn::EncoderArch::kBert;
  } else if (type == "roberta") {
    c.arch = nn::EncoderArch::kRoberta;
    c.position_offset = j.value("pad_token_id", size_t(1)) + 1;
  } else {
    throw Error(fmt::format("{}: config.json's model_type \"{}\" is not bert or roberta", where, type));
  }
  c.vocab_size = need("vocab_size");
  c.d_model = need("hidden_size");
  c.n_layer = need("num_hidden_layers");
  c.n_head = need("num_attention_heads");
  c.d_ff = need("intermediate_size");
  const size_t positions = need("max_position_embeddings");
  if (positions <= c.position_offset)
    throw Error(fmt::format("{}: max_position_embeddings {} leaves no positions past the padding offset", where, positions));
  c.max_len = positions - c.position_offset;
  c.type_vocab_size = j.value("type_vocab_size", size_t(2));
  c.ln_eps = j.value("layer_norm_eps", 1e-12f);
  c.dropout = j.value("hidden_dropout_prob", 0.1f);
  const std::string act = j.value("hidden_act", std::string("gelu"));
  if (act == "gelu") {
    c.gelu = nn::Gelu::kErf;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh") {
    c.gelu = nn::Gelu::kTanh;
  } else {
    throw Error(fmt::format("{}: hidden_act {} is not a GELU lmpipe computes (gelu, gelu_new)", where, act));
  }
  if (j.value("position_embedding_type", std::string("absolute")) != "absolute")
    throw Error(fmt::format("{}: position_embedding_type {} is not absolute", where, j["position_embedding_type"].dump()));
  c.validate();
  return c;
}

nn::GptConfig config_from_hf(const nlohmann::json& j, const std::string& where) {
  const auto need = [&](const char* key) -> size_t {
    if (!j.contains(key) || !j[key].is_number_unsigned())
      throw Error(fmt::format("{}: config.json has no \"{}\"", where, key));
    return j[key].get<size_t>();
  };
  nn::GptConfig c;
  const std::string type = j.value("model_type", "");
  if (type == "gpt2") {
    c.arch = nn::GptArch::kGpt2;
  } else if (type == "openai-gpt") {
    c.arch = nn::GptArch::kGpt1;
  } else {
    throw Error(fmt::format("{}: config.json's model_type \"{}\" is not gpt2 or openai-gpt", where, type));
  }
  c.vocab_size = need("vocab_size");
  c.max_len = need("n_positions");
  c.d_model = need("n_embd");
  c.n_layer = need("n_layer");
  c.n_head = need("n_head");
  c.d_ff = j.contains("n_inner") && j["n_inner"].is_number_unsigned() ? j["n_inner"].get<size_t>() : 4 * c.d_model;
  c.ln_eps = j.value("layer_norm_epsilon", 1e-5f);
  c.dropout = j.value("resid_pdrop", 0.0f);
  const std::string act = j.value(type == "gpt2" ? "activation_function" : "afn", std::string("gelu_new"));
  // For openai-gpt, "gelu" (its default) is the tanh GELU too: modeling_openai.py's ACT_FNS maps it to
  // gelu_new. For gpt2 it means the erf GELU, which these models do not compute.
  const bool tanh_gelu = act == "gelu_new" || act == "gelu_pytorch_tanh" || (type == "openai-gpt" && act == "gelu");
  if (!tanh_gelu)
    throw Error(fmt::format("{}: activation {} is not the tanh GELU these models use", where, act));
  // GPT2Config switches for attention variants these models do not compute.
  if (type == "gpt2" && (j.value("scale_attn_weights", true) != true || j.value("scale_attn_by_inverse_layer_idx", false) ||
                         j.value("reorder_and_upcast_attn", false)))
    throw Error(fmt::format("{}: config.json asks for an attention variant (scale_attn_weights false, "
                            "scale_attn_by_inverse_layer_idx or reorder_and_upcast_attn) that lmpipe does not compute",
                            where));
  if (type == "openai-gpt" && c.d_ff != 4 * c.d_model)
    throw Error(fmt::format("{}: an openai-gpt model's MLP is 4 x n_embd wide", where));
  c.validate();
  return c;
}

void copy_atomically(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read {}", from.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  write_file_atomically(to.string(), ss.str());
}

void sync_directory(const fs::path& dir) {
  FILE* f = std::fopen(dir.c_str(), "r");
  if (f != nullptr) {
    ::fsync(fileno(f));
    std::fclose(f);
  }
}

}  // namespace

// Writes the model directory of any architecture: its layout's tensors and its config.json.
static std::string save_model_dir(const std::string& run_dir, uint64_t step, const nn::ParameterLayout& layout, const float* params,
                           const nlohmann::ordered_json& config, const std::string& vocab_dir,
                           const TrainerStateToSave* state) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (!fs::is_directory(run_dir)) throw Error(fmt::format("cannot create the run directory {}", run_dir));
  std::string temp = run_dir + "/.step-" + std::to_string(step) + ".tmp-XXXXXX";
  if (::mkdtemp(temp.data()) == nullptr) fail_errno(fmt::format("cannot create a temporary directory in {}", run_dir));
  // mkdtemp makes it 0700; a checkpoint is an ordinary directory.
  static const mode_t kUmask = [] { const mode_t m = ::umask(0); ::umask(m); return m; }();
  ::chmod(temp.c_str(), 0777 & ~kUmask);
  try {
    std::vector<io::TensorToWrite> tensors;
    for (const nn::TensorInfo& t : layout.tensors())
      tensors.push_back({t.name, "F32", t.shape, params + t.offset, t.size * sizeof(float)});
    io::write_safetensors(temp + "/model.safetensors", tensors, {{"format", "pt"}});
    write_file_atomically(temp + "/config.json", config.dump(2) + "\n");
    if (!vocab_dir.empty()) {
      const fs::path source = fs::is_directory(vocab_dir) ? fs::path(vocab_dir) : fs::path(vocab_dir).parent_path();
      for (const char* name : kTokenizerFiles)
        if (fs::is_regular_file(source / name)) copy_atomically(source / name, fs::path(temp) / name);
    }
    if (state != nullptr) {
      const size_t n = state->adam_m.size();
      const nlohmann::json meta = {{"step", state->step},         {"tokens", state->tokens},
                                   {"data", state->data},         {"settings", state->settings},
                                   {"adam_steps", state->adam_steps}};
      io::write_safetensors(temp + "/trainer_state.safetensors",
                        {{"adam.m", "F32", {n}, state->adam_m.data(), n * sizeof(float)},
                         {"adam.v", "F32", {n}, state->adam_v.data(), n * sizeof(float)}},
                        {{"lmpipe", meta.dump()}});
    }
    sync_directory(temp);
    const std::string final_dir = run_dir + "/step-" + std::to_string(step);
    fs::remove_all(final_dir, ec);  // an older checkpoint of the same step (a rerun)
    fs::rename(temp, final_dir);
    // run/latest -> step-N, replaced atomically.
    const std::string link = run_dir + "/latest", link_temp = run_dir + "/.latest.tmp";
    fs::remove(link_temp, ec);
    fs::create_directory_symlink("step-" + std::to_string(step), link_temp);
    fs::rename(link_temp, link);
    sync_directory(run_dir);
    return final_dir;
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
}

std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::Gpt<float>& model,
                            const std::string& vocab_dir, const TrainerStateToSave* state) {
  return save_model_dir(run_dir, step, model.layout(), model.params().data(), hf_config(model.config()), vocab_dir, state);
}

std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::Bert<float>& model,
                            const std::string& vocab_dir, const TrainerStateToSave* state) {
  return save_model_dir(run_dir, step, model.layout(), model.params().data(), hf_config(model.config()), vocab_dir, state);
}

namespace {

// A checkpoint directory (a run directory stands for its latest checkpoint) and its config.json.
struct CheckpointDir {
  fs::path path;
  nlohmann::json config;
};

CheckpointDir open_checkpoint_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(fmt::format("{}: not a checkpoint directory", dir));
  fs::path path = fs::canonical(dir, ec);
  if (!fs::exists(path / "config.json") && fs::is_directory(path / "latest")) path = fs::canonical(path / "latest", ec);
  const fs::path config_path = path / "config.json";
  if (!fs::is_regular_file(config_path)) throw Error(fmt::format("{}: no config.json", dir));
  if (!fs::is_regular_file(path / "model.safetensors")) throw Error(fmt::format("{}: no model.safetensors", dir));
  std::ifstream in(config_path);
  std::ostringstream ss;
  ss << in.rdbuf();
  nlohmann::json config = nlohmann::json::parse(ss.str(), nullptr, false);
  if (config.is_discarded() || !config.is_object()) throw Error(fmt::format("{}: config.json is not a JSON object", dir));
  return {path, std::move(config)};
}

// Reads the layout's tensors from model.safetensors, trying each name with the prefixes a transformers
// base model (GPT2Model, BertModel, RobertaModel) saves without; then the trainer state when asked.
template <class Config>
void read_weights(Loaded<Config>& loaded, const std::string& dir, const fs::path& path, const nn::ParameterLayout& layout,
                  TrainerStateUse state_use) {
  loaded.params.assign(layout.total(), 0.0f);
  const io::SafetensorsFile weights((path / "model.safetensors").string());
  for (const nn::TensorInfo& t : layout.tensors()) {
    const io::SafeTensor* s = weights.find(t.name);
    for (const char* prefix : {"transformer.", "bert.", "roberta."})
      if (s == nullptr && t.name.starts_with(prefix)) s = weights.find(t.name.substr(std::string_view(prefix).size()));
    if (s == nullptr) throw Error(fmt::format("{}: model.safetensors has no tensor {}", dir, t.name));
    if (s->shape != t.shape)
      throw Error(fmt::format("{}: tensor {} has shape [{}], config.json says [{}]", dir, t.name, fmt::join(s->shape, ", "),
                              fmt::join(t.shape, ", ")));
    weights.read_floats(*s, loaded.params.data() + t.offset);
  }
  const fs::path state_path = path / "trainer_state.safetensors";
  if (state_use == TrainerStateUse::kLoad && fs::is_regular_file(state_path)) {
    const io::SafetensorsFile state_file(state_path.string());
    const nlohmann::json meta = nlohmann::json::parse(state_file.metadata().value("lmpipe", std::string("{}")), nullptr, false);
    const io::SafeTensor* m = state_file.find("adam.m");
    const io::SafeTensor* v = state_file.find("adam.v");
    if (meta.is_discarded() || !meta.contains("step") || m == nullptr || v == nullptr || m->elements() != loaded.params.size() ||
        v->elements() != loaded.params.size())
      throw Error(fmt::format("{}: trainer_state.safetensors does not fit the model", dir));
    TrainerState s;
    s.step = meta["step"].get<uint64_t>();
    s.tokens = meta.value("tokens", uint64_t(0));
    s.data = meta.value("data", nlohmann::json::object());
    s.settings = meta.value("settings", nlohmann::json::object());
    s.adam_steps = meta.value("adam_steps", uint64_t(0));
    s.adam_m.resize(m->elements());
    s.adam_v.resize(v->elements());
    state_file.read_floats(*m, s.adam_m.data());
    state_file.read_floats(*v, s.adam_v.data());
    loaded.state = std::move(s);
  }
}

}  // namespace

LoadedModel load_checkpoint(const std::string& dir, TrainerStateUse state_use) {
  const CheckpointDir c = open_checkpoint_dir(dir);
  LoadedModel loaded;
  loaded.dir = c.path.string();
  loaded.config = config_from_hf(c.config, dir);
  const nn::Gpt<float> shape(loaded.config, nn::GptBuffers::kLayout);
  read_weights(loaded, dir, c.path, shape.layout(), state_use);
  return loaded;
}

LoadedEncoder load_encoder_checkpoint(const std::string& dir, TrainerStateUse state_use) {
  const CheckpointDir c = open_checkpoint_dir(dir);
  LoadedEncoder loaded;
  loaded.dir = c.path.string();
  loaded.config = encoder_config_from_hf(c.config, dir);
  const nn::Bert<float> shape(loaded.config, nn::GptBuffers::kLayout);
  read_weights(loaded, dir, c.path, shape.layout(), state_use);
  return loaded;
}

std::string checkpoint_model_type(const std::string& dir) {
  const CheckpointDir c = open_checkpoint_dir(dir);
  if (!c.config.contains("model_type") || !c.config["model_type"].is_string())
    throw Error(fmt::format("{}: config.json has no model_type", dir));
  return c.config["model_type"].get<std::string>();
}

std::string find_tokenizer_dir(const std::string& vocab, const std::string& fingerprint, bool quiet) {
  if (!vocab.empty()) return tok::load_vocab(vocab).source;
  std::string found;
  const std::string share = fingerprint.empty() ? "" : find_share_dir();
  std::error_code ec;
  if (!share.empty() && fs::is_directory(share + "/vocab", ec)) {
    for (const auto& entry : fs::directory_iterator(share + "/vocab", ec)) {
      if (!entry.is_directory()) continue;
      try {
        const tok::Vocab v = tok::load_vocab(entry.path().string());
        if (v.fingerprint == fingerprint) found = v.source;
      } catch (const Error&) {
      }
      if (!found.empty()) break;
    }
  }
  if (found.empty() && !quiet)
    std::fprintf(stderr, "pretrain: warning: no tokenizer files match the data's vocabulary: checkpoints will have none "
                         "(give the tokenizer directory with -v, or sample needs -v later)\n");
  return found;
}

}  // namespace lmpipe::train
