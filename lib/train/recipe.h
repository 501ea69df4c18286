#pragma once
// The optimizer settings each family's reference code trains with (ANCHORS.md §5), as the defaults that
// pretrain's flags override: gpt (GPT-2/nanoGPT AdamW), bert (google-research/bert's optimization.py:
// Adam without bias correction, linear decay from step 0) and roberta (fairseq's base.yaml and the paper's
// Table 9: bias-corrected AdamW, beta2 0.98, no clipping, linear decay after warmup).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nn/optimizer.h"

namespace lmpipe::train {

struct Recipe {
  std::string name;
  double lr = 0, min_lr = 0;  // min_lr < 0: lr / 10
  uint64_t warmup = 0;
  nn::Schedule schedule = nn::Schedule::kCosine;
  double weight_decay = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, grad_clip = 0;  // grad_clip 0: off
  bool bias_correction = true;
  float dropout = 0;
};

std::optional<Recipe> find_recipe(std::string_view name);
std::vector<std::string> recipe_names();
// The recipe an architecture trains with unless told otherwise: gpt for gpt and gpt1, else the arch's own.
std::string default_recipe(std::string_view arch);

}  // namespace lmpipe::train
