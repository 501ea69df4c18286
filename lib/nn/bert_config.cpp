#include "nn/bert_config.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::nn {
namespace {

struct Preset {
  const char* name;
  EncoderArch arch;
  size_t vocab, layers, heads, width;
};

// BERT: Devlin et al. 2018 (uncased WordPiece vocabulary). RoBERTa: Liu et al. 2019 (GPT-2's byte-level BPE
// plus <s> <pad> </s> <unk>: 50265). Feed-forward width 4x, 512 positions.
constexpr Preset kPresets[] = {
    {"bert-base", EncoderArch::kBert, 30522, 12, 12, 768},
    {"bert-large", EncoderArch::kBert, 30522, 24, 16, 1024},
    {"roberta-base", EncoderArch::kRoberta, 50265, 12, 12, 768},
    {"roberta-large", EncoderArch::kRoberta, 50265, 24, 16, 1024},
    {"bert-tiny", EncoderArch::kBert, 30522, 2, 2, 128},
};

}  // namespace

void BertConfig::validate() const {
  if (vocab_size == 0 || max_len == 0 || type_vocab_size == 0 || n_layer == 0 || n_head == 0 || d_model == 0 || d_ff == 0)
    throw UsageError("model shape: every dimension must be positive");
  if (d_model % n_head != 0)
    throw UsageError(fmt::format("model shape: --d-model {} is not divisible by --n-head {}", d_model, n_head));
  if (dropout < 0 || dropout >= 1) throw UsageError("--dropout must be in [0, 1)");
}

uint64_t BertConfig::parameter_count() const {
  const uint64_t C = d_model, F = d_ff;
  const uint64_t embeddings = vocab_size * C + (max_len + position_offset) * C + type_vocab_size * C + 2 * C;
  const uint64_t per_layer = 4 * (C * C + C) + 2 * C + (C * F + F) + (F * C + C) + 2 * C;
  const uint64_t mlm_head = (C * C + C) + 2 * C + vocab_size;  // transform, its layer norm, decoder bias
  const uint64_t nsp_head = nsp() ? (C * C + C) + (2 * C + 2) : 0;  // pooler, classifier
  return embeddings + n_layer * per_layer + mlm_head + nsp_head;
}

uint64_t BertConfig::activation_floats(size_t B, size_t Tn, size_t M) const {
  // Mirrors Bert::plan.
  const uint64_t N = uint64_t(B) * Tn, C = d_model, F = d_ff;
  const uint64_t embeddings = 2 * N * C + 2 * N;
  const uint64_t per_layer = 8 * N * C + 2 * N * F + uint64_t(B) * n_head * Tn + 4 * N;
  const uint64_t heads = 4 * uint64_t(M) * C + 3 * uint64_t(M) + 2 * uint64_t(B) * C + 2 * uint64_t(B);
  const uint64_t scratch = 7 * N * C + 2 * N * F + 3 * std::max<uint64_t>(M, B) * C;
  return embeddings + n_layer * per_layer + heads + scratch;
}

std::optional<BertConfig> bert_preset(std::string_view name) {
  for (const Preset& p : kPresets) {
    if (name != p.name) continue;
    BertConfig c;
    c.arch = p.arch;
    c.vocab_size = p.vocab;
    c.n_layer = p.layers;
    c.n_head = p.heads;
    c.d_model = p.width;
    c.d_ff = 4 * p.width;
    if (p.arch == EncoderArch::kRoberta) {
      c.type_vocab_size = 1;
      c.position_offset = 2;
      c.ln_eps = 1e-5f;
    }
    return c;
  }
  return std::nullopt;
}

std::vector<std::string> bert_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

}  // namespace lmpipe::nn
