// gpt_logits CKPT_DIR OUT.json ID...: the logits at every position of one sequence, from a checkpoint
// loaded the way pretrain and sample load it, as JSON {"logits": [[V floats] x T]} so a Python script
// can compare them with another implementation's (tests/reference/check_transformers.py). Not installed.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/output_file.h"
#include "nn/gpt.h"
#include "nn/layers.h"
#include "nn/runtime.h"
#include "checkpoint/model_dir.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  if (argc < 4) {
    std::fprintf(stderr, "usage: gpt_logits CKPT_DIR OUT.json ID...\n");
    return 2;
  }
  nn::prepare_compute_environment(argv);
  nn::set_compute_threads(1);  // a test tool: one core is plenty, and results do not depend on it
  try {
    checkpoint::LoadedModel loaded = checkpoint::load_model_dir(argv[1]);
    const nn::GptConfig* config = std::get_if<nn::GptConfig>(&loaded.config);
    if (config == nullptr) throw Error(std::string(argv[1]) + ": not a GPT checkpoint");
    std::vector<uint32_t> ids;
    for (int i = 3; i < argc; ++i) ids.push_back(uint32_t(std::stoul(argv[i])));
    for (const uint32_t id : ids)
      if (id >= config->vocab_size) throw Error("id " + std::to_string(id) + " is not in the vocabulary");
    if (ids.size() > config->max_len) throw Error("more ids than the model's positions");

    nn::Gpt<float> model(*config, nn::ModelBuffers::kLayout);
    model.params() = std::move(loaded.params);
    const size_t T = ids.size(), C = config->d_model, V = config->vocab_size;
    // One forward over the whole sequence (so the causal mask is exercised), then the head on every row.
    std::vector<float> last(V), logits(T * V);
    model.last_logits(last.data(), ids.data(), 1, T);
    const bool gpt2 = config->arch == nn::GptArch::kGpt2;
    const nn::TensorInfo* wte =
        model.layout().find(gpt2 ? "transformer.wte.weight" : "transformer.tokens_embed.weight");
    nn::lm_head_logits(logits.data(), model.head_input(), model.params().data() + wte->offset, T, C, V);

    nlohmann::json rows = nlohmann::json::array();
    for (size_t t = 0; t < T; ++t)
      rows.push_back(std::vector<float>(logits.begin() + t * V, logits.begin() + (t + 1) * V));
    write_file_atomically(argv[2], nlohmann::json{{"logits", rows}}.dump() + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpt_logits: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
