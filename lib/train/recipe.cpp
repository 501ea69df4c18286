#include "train/recipe.h"

namespace lmpipe::train {
namespace {

Recipe gpt() {
  Recipe r;
  r.name = "gpt";
  r.lr = 6e-4;  // GPT-3 paper's 125M row; nanoGPT's default
  r.min_lr = -1;
  r.schedule = nn::Schedule::kCosine;
  r.weight_decay = 0.1;
  r.beta2 = 0.95;
  r.eps = 1e-8;
  r.grad_clip = 1.0;
  r.dropout = 0.0f;
  return r;
}

Recipe bert() {
  Recipe r;
  r.name = "bert";
  r.lr = 1e-4;  // the paper's (README: "The learning rate we used in the paper was 1e-4")
  r.min_lr = 0;
  r.warmup = 10000;  // run_pretraining.py's num_warmup_steps
  r.schedule = nn::Schedule::kLinearFromStart;
  r.weight_decay = 0.01;  // not on LayerNorm and biases (the model's layout marks them)
  r.beta2 = 0.999;
  r.eps = 1e-6;
  r.grad_clip = 1.0;
  r.bias_correction = false;
  r.dropout = 0.1f;
  return r;
}

Recipe roberta() {
  Recipe r;
  r.name = "roberta";
  r.lr = 6e-4;      // Table 9, base
  r.min_lr = 0;
  r.warmup = 24000;  // Table 9, base
  r.schedule = nn::Schedule::kLinear;  // fairseq's polynomial_decay, power 1, from the end of warmup
  r.weight_decay = 0.01;
  r.beta2 = 0.98;
  r.eps = 1e-6;
  r.grad_clip = 0;
  r.dropout = 0.1f;
  return r;
}

}  // namespace

std::optional<Recipe> find_recipe(std::string_view name) {
  if (name == "gpt") return gpt();
  if (name == "bert") return bert();
  if (name == "roberta") return roberta();
  return std::nullopt;
}

std::vector<std::string> recipe_names() { return {"gpt", "bert", "roberta"}; }

std::string default_recipe(std::string_view arch) {
  if (arch == "bert" || arch == "roberta") return std::string(arch);
  return "gpt";
}

}  // namespace lmpipe::train
