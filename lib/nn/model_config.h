#pragma once
// The shapes of the transformers lmpipe trains: what every shape has (TransformerShape), what a decoder
// (GptConfig) and an encoder (BertConfig) add, the papers' presets of both, and what a model of a shape
// costs in parameters, activations and FLOPs.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nn/layers.h"

namespace lmpipe::nn {

// The sizes pretrain's shape flags set and config.json records, for decoders and encoders alike.
struct TransformerShape {
  size_t vocab_size = 0;
  size_t max_len = 0;  // positions the model can take
  size_t n_layer = 0, n_head = 0, d_model = 0, d_ff = 0;
  float dropout = 0.0f;  // embedding, attention-probability and residual dropout
  float ln_eps = 1e-5f;

  // Throws UsageError for shapes that cannot work (zeros, d_model not divisible by n_head, a dropout
  // outside [0, 1), counts whose products overflow 64 bits).
  void validate() const;
  // Throws UsageError when a batch of B sequences of Tn positions has more activations than 64-bit byte
  // counts hold (so no count of them can wrap around).
  void check_batch(size_t B, size_t Tn) const;
};

// GPT-2 (and GPT-3): layer norm before each sub-block and after the last block. GPT (the original):
// layer norm after each residual addition, none at the end.
enum class GptArch { kGpt2, kGpt1 };

// What a decoder's last hidden states feed: the LM head (the token embedding transposed:
// GPT2LMHeadModel), or one scalar per sequence read at its last token (a reward model: transformers'
// GPT2ForSequenceClassification with num_labels 1, score.weight [1, d_model] and no bias).
enum class GptHead { kLm, kScore };

// A decoder-only transformer; the defaults are GPT-2 124M's.
struct GptConfig : TransformerShape {
  GptArch arch = GptArch::kGpt2;
  GptHead head = GptHead::kLm;
  // kScore: the id config.json names as padding, which transformers' GPT2ForSequenceClassification looks
  // for to find each sequence's last token; it must not occur inside the sequences it scores.
  uint32_t pad_token_id = 0;

  GptConfig() : TransformerShape{50257, 1024, 12, 12, 768, 3072, 0.0f, 1e-5f} {}
  // Parameters, the LM head tied to the token embedding (counted once).
  uint64_t parameter_count() const;
  // Floats of activations the training step keeps for a batch of B sequences of Tn positions.
  uint64_t activation_floats(size_t B, size_t Tn) const;
  // Floating-point operations of one training step (forward, backward) per token at Tn positions:
  // 6 per weight-matrix parameter and LM-head weight (Kaplan et al.'s 6N), plus the attention
  // scores and their weighted sums over the causal half of the Tn x Tn matrix that is computed.
  uint64_t training_flops_per_token(size_t Tn) const;
};

// BERT: token + segment + position embeddings, MLM and NSP heads (HuggingFace's BertForPreTraining).
// RoBERTa: no NSP head, one segment, positions offset past the padding index (RobertaForMaskedLM).
enum class EncoderArch { kBert, kRoberta };

// An encoder with its pretraining heads; the defaults are BERT base's.
struct BertConfig : TransformerShape {
  EncoderArch arch = EncoderArch::kBert;
  size_t type_vocab_size = 2;  // segments (RoBERTa: 1)
  size_t position_offset = 0;  // RoBERTa: padding_idx + 1 = 2, as HuggingFace numbers positions
  Gelu gelu = Gelu::kErf;      // HuggingFace's "gelu"; Google's TF BERT uses the tanh approximation

  // HuggingFace's layer_norm_eps for BERT is 1e-12 (RoBERTa's 1e-5).
  BertConfig() : TransformerShape{30522, 512, 12, 12, 768, 3072, 0.1f, 1e-12f} {}
  bool nsp() const { return arch == EncoderArch::kBert; }
  void validate() const;
  // Parameters of BertForPreTraining / RobertaForMaskedLM, the decoder tied to the word embeddings.
  uint64_t parameter_count() const;
  // Floats nn::Bert plans for a training batch of B sequences of Tn positions with M masked (activations
  // kept for backward and its scratch), not counting the LM head's chunk of logits.
  uint64_t activation_floats(size_t B, size_t Tn, size_t M) const;
};

// CLIP's vision transformer (transformers' CLIPVisionModel), the image encoder of LLaVA.
struct VisionConfig {
  size_t image_size = 224, patch_size = 32;
  size_t d_model = 768, n_layer = 12, n_head = 12, d_ff = 3072;
  float ln_eps = 1e-5f;
  // The hidden state LLaVA takes (its vision_feature_layer): -1 the last layer's output, -2 the second to
  // last's (LLaVA's default), ..., -(n_layer + 1) the embeddings after pre_layrnorm.
  int feature_layer = -2;
  // CLIP's normalisation of the 0..1 pixels, per channel (OpenAI's, which every CLIP checkpoint uses).
  float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
  float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

  size_t grid() const { return image_size / patch_size; }
  size_t patches() const { return grid() * grid(); }
  size_t positions() const { return patches() + 1; }  // with the class token
  // The encoder layers features() runs: up to the feature layer.
  size_t layers_run() const { return size_t(int(n_layer) + 1 + feature_layer); }
  // Throws UsageError for shapes that cannot work.
  void validate() const;
  uint64_t parameter_count() const;
};

// CLIP's vision towers: clip-vit-b-32, clip-vit-b-16, clip-vit-l-14 (224 pixels), clip-vit-l-14-336
// (LLaVA-1.5's), and vit-tiny (32 pixels of 8-pixel patches, 2 layers of 32) for tests. nullopt for others.
std::optional<VisionConfig> vision_preset(std::string_view name);
std::vector<std::string> vision_preset_names();

// LLaVA: a CLIP vision tower, a projector into the decoder's width, a GPT decoder.
enum class Projector { kLinear, kMlp2x };

struct LlavaConfig {
  VisionConfig vision;
  GptConfig text;
  Projector projector = Projector::kMlp2x;
  uint32_t image_token = 0;  // the placeholder id; each picture takes vision.patches() of them in a sequence
  void validate() const;
  uint64_t parameter_count() const;  // the three parts' (the decoder's LM head tied)
};

// Any model lmpipe trains, as checkpoints, presets and the training loop hand it around.
using ModelConfig = std::variant<GptConfig, BertConfig, LlavaConfig>;

// The model's own checks and parameter count, whichever it is.
void validate(const ModelConfig& config);
uint64_t parameter_count(const ModelConfig& config);
// The shape part of either (LLaVA's: its decoder's).
const TransformerShape& shape_of(const ModelConfig& config);
TransformerShape& shape_of(ModelConfig& config);
// transformers' model_type: "gpt2", "openai-gpt", "bert", "roberta" or "llava".
std::string model_type(const ModelConfig& config);
// A line for humans: "GPT-2 12x768, 12 heads, context 1024", "BERT 12x768, 12 heads".
std::string describe(const ModelConfig& config);

// The papers' shapes: gpt, gpt2 ... gpt2-xl, gpt3-small ... gpt3-175b, bert-base, bert-large, roberta-base,
// roberta-large, and small ones for tests and demos (gpt-nano, gpt-baby, bert-tiny). nullopt for an
// unknown name.
std::optional<ModelConfig> find_preset(std::string_view name);
std::optional<GptConfig> gpt_preset(std::string_view name);
std::optional<BertConfig> bert_preset(std::string_view name);
std::vector<std::string> gpt_preset_names();
std::vector<std::string> bert_preset_names();

}  // namespace lmpipe::nn
