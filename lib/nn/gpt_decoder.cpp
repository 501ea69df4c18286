#include "nn/gpt_decoder.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/layers.h"

namespace lmpipe::nn {

template <class T>
const T* GptDecoder<T>::tensor(const Gpt<T>& model, const std::string& name) const {
  const TensorInfo* t = model.layout().find(name);
  if (t == nullptr) throw Error(fmt::format("model has no tensor {}", name));
  return model.param_data() + t->offset;
}

template <class T>
GptDecoder<T>::GptDecoder(const Gpt<T>& model) : config_(model.config()) {
  if (config_.head != GptHead::kLm) throw Error("GptDecoder: the model has a score head, not an LM head to generate with");
  if (model.param_data() == nullptr) throw Error("decoder: the model has no weights");
  const bool gpt2 = config_.arch == GptArch::kGpt2;
  wte_ = tensor(model, gpt2 ? "transformer.wte.weight" : "transformer.tokens_embed.weight");
  wpe_ = tensor(model, gpt2 ? "transformer.wpe.weight" : "transformer.positions_embed.weight");
  if (gpt2) {
    lnf_w_ = tensor(model, "transformer.ln_f.weight");
    lnf_b_ = tensor(model, "transformer.ln_f.bias");
  }
  for (size_t l = 0; l < config_.n_layer; ++l) {
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    const auto w = [&](const std::string& name) { return tensor(model, h + name); };
    layers_.push_back(LayerWeights{w("ln_1.weight"), w("ln_1.bias"), w("attn.c_attn.weight"), w("attn.c_attn.bias"),
                                   w("attn.c_proj.weight"), w("attn.c_proj.bias"), w("ln_2.weight"), w("ln_2.bias"),
                                   w("mlp.c_fc.weight"), w("mlp.c_fc.bias"), w("mlp.c_proj.weight"),
                                   w("mlp.c_proj.bias")});
  }
  keys_.assign(config_.n_layer * config_.max_len * config_.d_model, T(0));
  values_.assign(keys_.size(), T(0));
}

template <class T>
void GptDecoder<T>::reserve_rows(size_t R) {
  if (R <= rows_) return;
  const size_t C = config_.d_model, F = config_.d_ff;
  x_.assign(R * C, T(0));
  h_.assign(R * C, T(0));
  qkv_.assign(R * 3 * C, T(0));
  atty_.assign(R * C, T(0));
  fch_.assign(R * F, T(0));
  fch_gelu_.assign(R * F, T(0));
  mean_.assign(R, T(0));
  rstd_.assign(R, T(0));
  rows_ = R;
}

template <class T>
void GptDecoder<T>::append(const uint32_t* tokens, size_t n, T* logits) {
  const size_t C = config_.d_model, F = config_.d_ff, NH = config_.n_head, V = config_.vocab_size;
  const size_t P = position_;
  if (n == 0 || P + n > config_.max_len)
    throw Error(fmt::format("decoder: {} tokens at position {} do not fit the context of {}", n, P, config_.max_len));
  for (size_t r = 0; r < n; ++r)
    if (tokens[r] >= V) throw Error(fmt::format("decoder: token id {} is outside the vocabulary of {}", tokens[r], V));
  reserve_rows(n);
  const T eps = T(config_.ln_eps);
  const bool gpt2 = config_.arch == GptArch::kGpt2;
  T* x = x_.data();  // the residual stream of the new rows
  T* h = h_.data();
  // Rows at positions P.., one sequence: embedding_forward's position is the row index modulo Tn, so
  // the position table is passed from row P on.
  embedding_forward(x, tokens, wte_, wpe_ + P * C, n, n, C);
  for (size_t r = 0; r < injected_count_; ++r) {
    const size_t pos = injected_positions_[r];
    if (pos < P || pos >= P + n) continue;
    for (size_t c = 0; c < C; ++c) x[(pos - P) * C + c] = injected_[r * C + c] + wpe_[pos * C + c];
  }
  for (size_t l = 0; l < config_.n_layer; ++l) {
    const LayerWeights& w = layers_[l];
    T* k_cache = keys_.data() + l * config_.max_len * C;
    T* v_cache = values_.data() + l * config_.max_len * C;
    const T* attn_in = x;
    if (gpt2) {
      layernorm_forward(h, mean_.data(), rstd_.data(), x, w.ln1_w, w.ln1_b, n, C, eps);
      attn_in = h;
    }
    linear_forward(qkv_.data(), attn_in, w.qkv_w, w.qkv_b, n, C, 3 * C);
    for (size_t r = 0; r < n; ++r) {
      const T* row = qkv_.data() + r * 3 * C;
      std::copy(row + C, row + 2 * C, k_cache + (P + r) * C);
      std::copy(row + 2 * C, row + 3 * C, v_cache + (P + r) * C);
    }
    attention_cached_forward(atty_.data(), qkv_.data(), 3 * C, k_cache, v_cache, P, n, C, NH);
    linear_forward(h, atty_.data(), w.proj_w, w.proj_b, n, C, C);  // h: the attention's output now
    for (size_t i = 0; i < n * C; ++i) x[i] += h[i];
    if (!gpt2) {  // GPT: normalise the sum, which is also the MLP's input and residual
      layernorm_forward(x, mean_.data(), rstd_.data(), x, w.ln1_w, w.ln1_b, n, C, eps);
      std::copy(x, x + n * C, h);
    } else {
      layernorm_forward(h, mean_.data(), rstd_.data(), x, w.ln2_w, w.ln2_b, n, C, eps);
    }
    linear_forward(fch_.data(), h, w.fc_w, w.fc_b, n, C, F);
    gelu_forward(fch_gelu_.data(), fch_.data(), n * F, Gelu::kTanh);
    linear_forward(h, fch_gelu_.data(), w.fcproj_w, w.fcproj_b, n, F, C);
    for (size_t i = 0; i < n * C; ++i) x[i] += h[i];
    if (!gpt2) layernorm_forward(x, mean_.data(), rstd_.data(), x, w.ln2_w, w.ln2_b, n, C, eps);
  }
  const T* last = x + (n - 1) * C;
  if (gpt2) {
    layernorm_forward(h, mean_.data(), rstd_.data(), last, lnf_w_, lnf_b_, 1, C, eps);
    last = h;
  }
  lm_head_logits(logits, last, wte_, 1, C, V);
  position_ = P + n;
}

template class GptDecoder<float>;
template class GptDecoder<double>;

}  // namespace lmpipe::nn
