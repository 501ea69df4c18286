#pragma once
// The shape of a BERT or RoBERTa encoder with its pretraining heads, the papers' presets, and what a model
// of that shape costs.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nn/layers.h"

namespace lmpipe::nn {

// BERT: token + segment + position embeddings, MLM and NSP heads (HuggingFace's BertForPreTraining).
// RoBERTa: no NSP head, one segment, positions offset past the padding index (RobertaForMaskedLM).
enum class EncoderArch { kBert, kRoberta };

struct BertConfig {
  EncoderArch arch = EncoderArch::kBert;
  size_t vocab_size = 30522;
  size_t max_len = 512;        // positions the model can take (max_position_embeddings minus the offset)
  size_t type_vocab_size = 2;  // segments (RoBERTa: 1)
  size_t position_offset = 0;  // RoBERTa: padding_idx + 1 = 2, as HuggingFace numbers positions
  size_t n_layer = 12, n_head = 12, d_model = 768, d_ff = 3072;
  float dropout = 0.1f;        // embedding, attention-probability and residual dropout
  float ln_eps = 1e-12f;       // HuggingFace's layer_norm_eps for BERT (RoBERTa: 1e-5)
  Gelu gelu = Gelu::kErf;      // HuggingFace's "gelu"; Google's TF BERT uses the tanh approximation

  bool nsp() const { return arch == EncoderArch::kBert; }
  // Throws UsageError for shapes that cannot work.
  void validate() const;
  // Parameters of BertForPreTraining / RobertaForMaskedLM, the decoder tied to the word embeddings.
  uint64_t parameter_count() const;
  // Floats nn::Bert plans for a training batch of B sequences of Tn positions with M masked (activations
  // kept for backward and its scratch), not counting the LM head's chunk of logits.
  uint64_t activation_floats(size_t B, size_t Tn, size_t M) const;
};

// bert-base, bert-large (Devlin et al.), roberta-base, roberta-large (Liu et al.), and bert-tiny for tests.
std::optional<BertConfig> bert_preset(std::string_view name);
std::vector<std::string> bert_preset_names();

}  // namespace lmpipe::nn
