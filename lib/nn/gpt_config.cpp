#include "nn/gpt_config.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::nn {
namespace {

struct Preset {
  const char* name;
  GptArch arch;
  size_t vocab, ctx, layers, heads, width;
};

// GPT: Radford et al. 2018 (HuggingFace openai-gpt). GPT-2: Radford et al. 2019 and the released
// hparams. GPT-3: Brown et al. 2020, Table 2.1, ctx 2048; the table's XL row (24 heads of 128 in a
// width of 2048) and 13B row (width 5140 for 40 heads of 128) do not divide: XL keeps heads of 128
// (16 heads, as llm.c does) and 13B uses 5120 (as Megatron-DeepSpeed does).
constexpr Preset kPresets[] = {
    {"gpt", GptArch::kGpt1, 40478, 512, 12, 12, 768},
    {"gpt2", GptArch::kGpt2, 50257, 1024, 12, 12, 768},
    {"gpt2-medium", GptArch::kGpt2, 50257, 1024, 24, 16, 1024},
    {"gpt2-large", GptArch::kGpt2, 50257, 1024, 36, 20, 1280},
    {"gpt2-xl", GptArch::kGpt2, 50257, 1024, 48, 25, 1600},
    {"gpt3-small", GptArch::kGpt2, 50257, 2048, 12, 12, 768},
    {"gpt3-medium", GptArch::kGpt2, 50257, 2048, 24, 16, 1024},
    {"gpt3-large", GptArch::kGpt2, 50257, 2048, 24, 16, 1536},
    {"gpt3-xl", GptArch::kGpt2, 50257, 2048, 24, 16, 2048},
    {"gpt3-2.7b", GptArch::kGpt2, 50257, 2048, 32, 32, 2560},
    {"gpt3-6.7b", GptArch::kGpt2, 50257, 2048, 32, 32, 4096},
    {"gpt3-13b", GptArch::kGpt2, 50257, 2048, 40, 40, 5120},
    {"gpt3-175b", GptArch::kGpt2, 50257, 2048, 96, 96, 12288},
    // nanoGPT's CPU "baby" character model, and a tiny one for tests.
    {"gpt-baby", GptArch::kGpt2, 256, 64, 4, 4, 128},
    {"gpt-nano", GptArch::kGpt2, 256, 32, 2, 2, 32},
};

}  // namespace

void GptConfig::validate() const {
  if (vocab_size == 0 || max_len == 0 || n_layer == 0 || n_head == 0 || d_model == 0 || d_ff == 0)
    throw UsageError("model shape: every dimension must be positive");
  if (d_model % n_head != 0)
    throw UsageError(fmt::format("model shape: --d-model {} is not divisible by --n-head {}", d_model, n_head));
  if (dropout < 0 || dropout >= 1) throw UsageError("--dropout must be in [0, 1)");
}

uint64_t GptConfig::parameter_count() const {
  const uint64_t C = d_model, F = d_ff;
  const uint64_t per_layer = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * F + F) + (F * C + C);
  const uint64_t final_ln = arch == GptArch::kGpt2 ? 2 * C : 0;
  return vocab_size * C + max_len * C + n_layer * per_layer + final_ln;
}

uint64_t GptConfig::training_flops_per_token(size_t Tn) const {
  const uint64_t C = d_model, F = d_ff;
  const uint64_t matrices = n_layer * (C * 3 * C + C * C + 2 * C * F) + vocab_size * C;
  // Q K^T and A V: 2 Tn C multiply-adds per token forward over the full matrix, half of it causal;
  // backward twice the forward.
  const uint64_t attention = n_layer * 3 * (2 * Tn * C);
  return 6 * matrices + attention;
}

uint64_t GptConfig::activation_floats(size_t B, size_t Tn) const {
  const uint64_t N = uint64_t(B) * Tn, C = d_model, F = d_ff;
  // Per layer: two layer-norm outputs and their statistics, qkv, attention output and its log-sum-exp,
  // two residual streams, the MLP's hidden layer before and after GELU. Plus the embeddings and the
  // final layer norm.
  const uint64_t per_layer = N * (2 * C + 4 + 3 * C + C + 2 * C + 2 * F) + uint64_t(B) * n_head * Tn;
  return n_layer * per_layer + N * (2 * C + 2);
}

std::optional<GptConfig> gpt_preset(std::string_view name) {
  for (const Preset& p : kPresets) {
    if (name != p.name) continue;
    GptConfig c;
    c.arch = p.arch;
    c.vocab_size = p.vocab;
    c.max_len = p.ctx;
    c.n_layer = p.layers;
    c.n_head = p.heads;
    c.d_model = p.width;
    c.d_ff = 4 * p.width;
    return c;
  }
  return std::nullopt;
}

std::vector<std::string> gpt_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

}  // namespace lmpipe::nn
