#pragma once
// The shape of a decoder-only transformer, the papers' presets, and what a model of that shape costs.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lmpipe::nn {

// GPT-2 (and GPT-3): layer norm before each sub-block and after the last block. GPT (the original):
// layer norm after each residual addition, none at the end.
enum class GptArch { kGpt2, kGpt1 };

struct GptConfig {
  GptArch arch = GptArch::kGpt2;
  size_t vocab_size = 50257;
  size_t max_len = 1024;  // positions (n_positions)
  size_t n_layer = 12, n_head = 12, d_model = 768, d_ff = 3072;
  float dropout = 0.0f;   // embedding, attention-probability and residual dropout
  float ln_eps = 1e-5f;

  // Throws UsageError for shapes that cannot work (d_model not divisible by n_head, zeros).
  void validate() const;
  // Parameters, the LM head tied to the token embedding (counted once).
  uint64_t parameter_count() const;
  // Floats of activations the training step keeps for a batch of B sequences of Tn positions.
  uint64_t activation_floats(size_t B, size_t Tn) const;
  // Floating-point operations of one training step (forward, backward) per token at Tn positions:
  // 6 per weight-matrix parameter and LM-head weight (Kaplan et al.'s 6N), plus the attention
  // scores and their weighted sums over the causal half of the Tn x Tn matrix that is computed.
  uint64_t training_flops_per_token(size_t Tn) const;
};

// The papers' shapes: gpt, gpt2, gpt2-medium, gpt2-large, gpt2-xl, gpt3-small ... gpt3-175b, and small
// ones for tests and demos (gpt-nano, gpt-baby). nullopt for an unknown name.
std::optional<GptConfig> gpt_preset(std::string_view name);
std::vector<std::string> gpt_preset_names();

}  // namespace lmpipe::nn
