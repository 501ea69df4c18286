#include "nn/model_config.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::nn {
namespace {

enum class Family { kGpt2, kGpt1, kBert, kRoberta };

struct Preset {
  const char* name;
  Family family;
  size_t vocab, ctx, layers, heads, width;  // the MLP is 4 x width wide
};

// GPT: Radford et al. 2018 (HuggingFace openai-gpt). GPT-2: Radford et al. 2019 and the released
// hparams. GPT-3: Brown et al. 2020, Table 2.1, ctx 2048; the table's XL row (24 heads of 128 in a
// width of 2048) and 13B row (width 5140 for 40 heads of 128) do not divide: XL keeps heads of 128
// (16 heads, as llm.c does) and 13B uses 5120 (as Megatron-DeepSpeed does). BERT: Devlin et al. 2018
// (uncased WordPiece vocabulary). RoBERTa: Liu et al. 2019 (GPT-2's byte-level BPE plus <s> <pad> </s>
// <unk>: 50265). Encoders take 512 positions.
constexpr Preset kPresets[] = {
    {"gpt", Family::kGpt1, 40478, 512, 12, 12, 768},
    {"gpt2", Family::kGpt2, 50257, 1024, 12, 12, 768},
    {"gpt2-medium", Family::kGpt2, 50257, 1024, 24, 16, 1024},
    {"gpt2-large", Family::kGpt2, 50257, 1024, 36, 20, 1280},
    {"gpt2-xl", Family::kGpt2, 50257, 1024, 48, 25, 1600},
    {"gpt3-small", Family::kGpt2, 50257, 2048, 12, 12, 768},
    {"gpt3-medium", Family::kGpt2, 50257, 2048, 24, 16, 1024},
    {"gpt3-large", Family::kGpt2, 50257, 2048, 24, 16, 1536},
    {"gpt3-xl", Family::kGpt2, 50257, 2048, 24, 16, 2048},
    {"gpt3-2.7b", Family::kGpt2, 50257, 2048, 32, 32, 2560},
    {"gpt3-6.7b", Family::kGpt2, 50257, 2048, 32, 32, 4096},
    {"gpt3-13b", Family::kGpt2, 50257, 2048, 40, 40, 5120},
    {"gpt3-175b", Family::kGpt2, 50257, 2048, 96, 96, 12288},
    // nanoGPT's CPU "baby" character model, and a tiny one for tests.
    {"gpt-baby", Family::kGpt2, 256, 64, 4, 4, 128},
    {"gpt-nano", Family::kGpt2, 256, 32, 2, 2, 32},
    {"bert-base", Family::kBert, 30522, 512, 12, 12, 768},
    {"bert-large", Family::kBert, 30522, 512, 24, 16, 1024},
    {"roberta-base", Family::kRoberta, 50265, 512, 12, 12, 768},
    {"roberta-large", Family::kRoberta, 50265, 512, 24, 16, 1024},
    {"bert-tiny", Family::kBert, 30522, 512, 2, 2, 128},
};

bool is_decoder(Family f) { return f == Family::kGpt2 || f == Family::kGpt1; }

ModelConfig from_preset(const Preset& p) {
  ModelConfig config = is_decoder(p.family) ? ModelConfig(GptConfig{}) : ModelConfig(BertConfig{});
  TransformerShape& s = shape_of(config);
  s.vocab_size = p.vocab;
  s.max_len = p.ctx;
  s.n_layer = p.layers;
  s.n_head = p.heads;
  s.d_model = p.width;
  s.d_ff = 4 * p.width;
  if (auto* gpt = std::get_if<GptConfig>(&config)) {
    gpt->arch = p.family == Family::kGpt1 ? GptArch::kGpt1 : GptArch::kGpt2;
  } else if (p.family == Family::kRoberta) {
    BertConfig& c = std::get<BertConfig>(config);
    c.arch = EncoderArch::kRoberta;
    c.type_vocab_size = 1;
    c.position_offset = 2;
    c.ln_eps = 1e-5f;
  }
  return config;
}

// a * b, or nullopt when it does not fit in 64 bits.
std::optional<uint64_t> times(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

}  // namespace

void TransformerShape::validate() const {
  if (vocab_size == 0 || max_len == 0 || n_layer == 0 || n_head == 0 || d_model == 0 || d_ff == 0)
    throw UsageError("model shape: every dimension must be positive");
  if (d_model % n_head != 0)
    throw UsageError(fmt::format("model shape: --d-model {} is not divisible by --n-head {}", d_model, n_head));
  if (!(dropout >= 0 && dropout < 1)) throw UsageError(fmt::format("--dropout {} must be at least 0 and below 1", dropout));
  // Every count below (parameters, activations, bytes) is a sum of products of these sizes: bound the
  // largest terms so that none of them can wrap around.
  constexpr uint64_t kMaxParameters = uint64_t(1) << 56;
  const auto per_layer = times(d_model, 4 * uint64_t(d_model) + 2 * uint64_t(d_ff) + 16);
  const auto layers = per_layer ? times(*per_layer, n_layer) : std::nullopt;
  const auto embeddings = times(uint64_t(vocab_size) + max_len, d_model);
  if (d_model > kMaxParameters || d_ff > kMaxParameters || vocab_size > kMaxParameters || max_len > kMaxParameters ||
      !layers || !embeddings || *layers > kMaxParameters || *embeddings > kMaxParameters)
    throw UsageError(fmt::format("model shape: {} layers, width {}, MLP {}, vocabulary {}, {} positions is past "
                                 "2^56 parameters, more than any machine can hold",
                                 n_layer, d_model, d_ff, vocab_size, max_len));
}

void TransformerShape::check_batch(size_t B, size_t Tn) const {
  // A generous bound on the values a layer keeps per position (both models keep fewer), times the layers
  // and the heads' rows, in bytes.
  const uint64_t per_position = 16 * uint64_t(d_model) + 4 * uint64_t(d_ff) + 4 * uint64_t(n_head) + 16;
  uint64_t bytes = 4;
  for (const uint64_t factor : {uint64_t(B), uint64_t(Tn), per_position, uint64_t(n_layer) + 2})
    if (__builtin_mul_overflow(bytes, factor, &bytes) || bytes > (uint64_t(1) << 62))
      throw UsageError(fmt::format("a micro-batch of {} sequences of {} positions needs more memory than any machine "
                                   "has: lower --micro-batch or --batch-size",
                                   B, Tn));
}

uint64_t GptConfig::parameter_count() const {
  const uint64_t C = d_model, F = d_ff;
  const uint64_t per_layer = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * F + F) + (F * C + C);
  const uint64_t final_ln = arch == GptArch::kGpt2 ? 2 * C : 0;
  const uint64_t score = head == GptHead::kScore ? C : 0;
  return vocab_size * C + max_len * C + n_layer * per_layer + final_ln + score;
}

uint64_t GptConfig::training_flops_per_token(size_t Tn) const {
  const uint64_t C = d_model, F = d_ff;
  const uint64_t matrices = n_layer * (C * 3 * C + C * C + 2 * C * F) + (head == GptHead::kLm ? vocab_size * C : 0);
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

void BertConfig::validate() const {
  TransformerShape::validate();
  if (type_vocab_size == 0) throw UsageError("model shape: every dimension must be positive");
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

void VisionConfig::validate() const {
  if (image_size == 0 || patch_size == 0 || d_model == 0 || n_layer == 0 || n_head == 0 || d_ff == 0)
    throw UsageError("a vision tower's sizes must all be above 0");
  // Bounds far past any CLIP (ViT-G: 1664 wide, 48 layers, 336 pixels) that keep every count below 2^64.
  if (image_size > 65536 || n_layer > 65536 || n_head > 65536 || d_model > (1 << 20) || d_ff > (1 << 22))
    throw UsageError("a vision tower larger than lmpipe takes (image size, layers and heads up to 65536, width up to "
                     "2^20, MLP width up to 2^22)");
  if (image_size % patch_size != 0)
    throw UsageError(fmt::format("the image size {} is not a multiple of the patch size {}", image_size, patch_size));
  if (d_model % n_head != 0)
    throw UsageError(fmt::format("the vision width {} is not a multiple of its {} heads", d_model, n_head));
  if (feature_layer >= 0 || feature_layer < -int(n_layer) - 1)
    throw UsageError(fmt::format("the vision feature layer {} is not one of -1 .. -{} (counted from the last)",
                                 feature_layer, n_layer + 1));
}

uint64_t VisionConfig::parameter_count() const {
  const uint64_t D = d_model, F = d_ff, P = patch_size;
  const uint64_t layer = 4 * (D * D + D) + 2 * D * F + F + D + 4 * D;
  return D + 3 * P * P * D + positions() * D + 4 * D + n_layer * layer;
}

std::optional<VisionConfig> vision_preset(std::string_view name) {
  VisionConfig c;
  if (name == "clip-vit-b-32") return c;
  if (name == "clip-vit-b-16") {
    c.patch_size = 16;
    return c;
  }
  if (name == "clip-vit-l-14" || name == "clip-vit-l-14-336") {
    c.image_size = name == "clip-vit-l-14" ? 224 : 336;
    c.patch_size = 14;
    c.d_model = 1024;
    c.n_layer = 24;
    c.n_head = 16;
    c.d_ff = 4096;
    return c;
  }
  if (name == "vit-tiny") {
    c.image_size = 32;
    c.patch_size = 8;
    c.d_model = 32;
    c.n_layer = 2;
    c.n_head = 4;
    c.d_ff = 64;
    return c;
  }
  return std::nullopt;
}

std::vector<std::string> vision_preset_names() {
  return {"clip-vit-b-32", "clip-vit-b-16", "clip-vit-l-14", "clip-vit-l-14-336", "vit-tiny"};
}

void LlavaConfig::validate() const {
  vision.validate();
  text.validate();
  if (text.head != GptHead::kLm) throw UsageError("LLaVA's decoder has an LM head");
  if (image_token >= text.vocab_size)
    throw UsageError(fmt::format("the image placeholder id {} is not in the decoder's vocabulary of {}", image_token,
                                 text.vocab_size));
}

uint64_t LlavaConfig::parameter_count() const {
  const uint64_t Dv = vision.d_model, Dt = text.d_model;
  const uint64_t projector_params = Dt * Dv + Dt + (projector == Projector::kMlp2x ? Dt * Dt + Dt : 0);
  return vision.parameter_count() + projector_params + text.parameter_count();
}

void validate(const ModelConfig& config) {
  std::visit([](const auto& c) { c.validate(); }, config);
}

uint64_t parameter_count(const ModelConfig& config) {
  return std::visit([](const auto& c) { return c.parameter_count(); }, config);
}

const TransformerShape& shape_of(const ModelConfig& config) {
  return std::visit([](const auto& c) -> const TransformerShape& {
    if constexpr (std::is_same_v<std::decay_t<decltype(c)>, LlavaConfig>) return c.text;
    else return c;
  }, config);
}

TransformerShape& shape_of(ModelConfig& config) {
  return const_cast<TransformerShape&>(shape_of(std::as_const(config)));
}

std::string model_type(const ModelConfig& config) {
  if (std::holds_alternative<LlavaConfig>(config)) return "llava";
  if (const auto* gpt = std::get_if<GptConfig>(&config)) return gpt->arch == GptArch::kGpt2 ? "gpt2" : "openai-gpt";
  return std::get<BertConfig>(config).arch == EncoderArch::kBert ? "bert" : "roberta";
}

std::string describe(const ModelConfig& config) {
  if (const auto* llava = std::get_if<LlavaConfig>(&config)) {
    const VisionConfig& v = llava->vision;
    return fmt::format("LLaVA: CLIP ViT {}x{} ({} px, patches of {}), {} projector, {}", v.n_layer, v.d_model,
                       v.image_size, v.patch_size, llava->projector == Projector::kMlp2x ? "mlp2x" : "linear",
                       describe(llava->text));
  }
  const TransformerShape& s = shape_of(config);
  if (const auto* gpt = std::get_if<GptConfig>(&config))
    return fmt::format("{} {}x{}, {} heads, context {}{}", gpt->arch == GptArch::kGpt2 ? "GPT-2" : "GPT", s.n_layer,
                       s.d_model, s.n_head, s.max_len, gpt->head == GptHead::kScore ? ", scalar head" : "");
  return fmt::format("{} {}x{}, {} heads", std::get<BertConfig>(config).nsp() ? "BERT" : "RoBERTa", s.n_layer, s.d_model,
                     s.n_head);
}

std::optional<ModelConfig> find_preset(std::string_view name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return from_preset(p);
  return std::nullopt;
}

std::optional<GptConfig> gpt_preset(std::string_view name) {
  const std::optional<ModelConfig> c = find_preset(name);
  if (!c || !std::holds_alternative<GptConfig>(*c)) return std::nullopt;
  return std::get<GptConfig>(*c);
}

std::optional<BertConfig> bert_preset(std::string_view name) {
  const std::optional<ModelConfig> c = find_preset(name);
  if (!c || !std::holds_alternative<BertConfig>(*c)) return std::nullopt;
  return std::get<BertConfig>(*c);
}

std::vector<std::string> gpt_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets)
    if (is_decoder(p.family)) names.emplace_back(p.name);
  return names;
}

std::vector<std::string> bert_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets)
    if (!is_decoder(p.family)) names.emplace_back(p.name);
  return names;
}

}  // namespace lmpipe::nn
