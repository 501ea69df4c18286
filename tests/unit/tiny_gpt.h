#pragma once
// The GPT shape of the whole-model tests: small enough for finite differences in double precision.
#include "nn/model_config.h"

namespace lmpipe::nn {

inline GptConfig tiny_gpt(GptArch arch = GptArch::kGpt2, float dropout = 0) {
  GptConfig c;
  c.arch = arch;
  c.vocab_size = 11;
  c.max_len = 6;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 8;
  c.d_ff = 12;
  c.dropout = dropout;
  return c;
}

}  // namespace lmpipe::nn
