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
#include "io/safetensors.h"
#include "lmpipe/version.h"

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

std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::Gpt<float>& model,
                            const std::string& vocab_dir, const TrainerStateToSave* state) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (!fs::is_directory(run_dir)) throw Error(fmt::format("cannot create the run directory {}", run_dir));
  std::string temp = run_dir + "/.step-" + std::to_string(step) + ".tmp-XXXXXX";
  if (::mkdtemp(temp.data()) == nullptr) fail_errno(fmt::format("cannot create a temporary directory in {}", run_dir));
  // mkdtemp makes it 0700; a checkpoint is an ordinary directory.
  static const mode_t kUmask = [] { const mode_t m = ::umask(0); ::umask(m); return m; }();
  ::chmod(temp.c_str(), 0777 & ~kUmask);
  try {
    std::vector<TensorToWrite> tensors;
    for (const nn::TensorInfo& t : model.layout().tensors())
      tensors.push_back({t.name, "F32", t.shape, model.params().data() + t.offset, t.size * sizeof(float)});
    write_safetensors(temp + "/model.safetensors", tensors, {{"format", "pt"}});
    write_file_atomically(temp + "/config.json", hf_config(model.config()).dump(2) + "\n");
    if (!vocab_dir.empty()) {
      const fs::path source = fs::is_directory(vocab_dir) ? fs::path(vocab_dir) : fs::path(vocab_dir).parent_path();
      for (const char* name : kTokenizerFiles)
        if (fs::is_regular_file(source / name)) copy_atomically(source / name, fs::path(temp) / name);
    }
    if (state != nullptr) {
      const size_t n = state->adam_m.size();
      const nlohmann::json meta = {{"step", state->step}, {"data", state->data}, {"settings", state->settings},
                                   {"adam_steps", state->adam_steps}};
      write_safetensors(temp + "/trainer_state.safetensors",
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

LoadedModel load_checkpoint(const std::string& dir, TrainerStateUse state_use) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(fmt::format("{}: not a checkpoint directory", dir));
  fs::path path = fs::canonical(dir, ec);
  // A run directory stands for its latest checkpoint.
  if (!fs::exists(path / "config.json") && fs::is_directory(path / "latest")) path = fs::canonical(path / "latest", ec);
  const fs::path config_path = path / "config.json", weights_path = path / "model.safetensors";
  if (!fs::is_regular_file(config_path)) throw Error(fmt::format("{}: no config.json", dir));
  if (!fs::is_regular_file(weights_path)) throw Error(fmt::format("{}: no model.safetensors", dir));
  std::ifstream in(config_path);
  std::ostringstream ss;
  ss << in.rdbuf();
  const nlohmann::json config = nlohmann::json::parse(ss.str(), nullptr, false);
  if (config.is_discarded() || !config.is_object()) throw Error(fmt::format("{}: config.json is not a JSON object", dir));

  LoadedModel loaded;
  loaded.dir = path.string();
  loaded.config = config_from_hf(config, dir);
  const nn::Gpt<float> shape(loaded.config, nn::GptBuffers::kLayout);
  loaded.params.assign(shape.layout().total(), 0.0f);
  const SafetensorsFile weights(weights_path.string());
  for (const nn::TensorInfo& t : shape.layout().tensors()) {
    // transformers saves GPT2LMHeadModel with "transformer." and GPT2Model without it.
    const SafeTensor* s = weights.find(t.name);
    if (s == nullptr && t.name.starts_with("transformer.")) s = weights.find(t.name.substr(12));
    if (s == nullptr) throw Error(fmt::format("{}: model.safetensors has no tensor {}", dir, t.name));
    if (s->shape != t.shape)
      throw Error(fmt::format("{}: tensor {} has shape [{}], config.json says [{}]", dir, t.name, fmt::join(s->shape, ", "),
                              fmt::join(t.shape, ", ")));
    weights.read_floats(*s, loaded.params.data() + t.offset);
  }
  const fs::path state_path = path / "trainer_state.safetensors";
  if (state_use == TrainerStateUse::kLoad && fs::is_regular_file(state_path)) {
    const SafetensorsFile state_file(state_path.string());
    const nlohmann::json meta = nlohmann::json::parse(state_file.metadata().value("lmpipe", std::string("{}")), nullptr, false);
    const SafeTensor* m = state_file.find("adam.m");
    const SafeTensor* v = state_file.find("adam.v");
    if (meta.is_discarded() || !meta.contains("step") || m == nullptr || v == nullptr || m->elements() != loaded.params.size() ||
        v->elements() != loaded.params.size())
      throw Error(fmt::format("{}: trainer_state.safetensors does not fit the model", dir));
    TrainerState s;
    s.step = meta["step"].get<uint64_t>();
    s.data = meta.value("data", nlohmann::json::object());
    s.settings = meta.value("settings", nlohmann::json::object());
    s.adam_steps = meta.value("adam_steps", uint64_t(0));
    s.adam_m.resize(m->elements());
    s.adam_v.resize(v->elements());
    state_file.read_floats(*m, s.adam_m.data());
    state_file.read_floats(*v, s.adam_v.data());
    loaded.state = std::move(s);
  }
  return loaded;
}

}  // namespace lmpipe::train
