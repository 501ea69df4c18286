#include "nn/gpt.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "nn/layers.h"

namespace lmpipe::nn {
template <class T>
Gpt<T>::Gpt(GptConfig config, ModelBuffers buffers) : config_(std::move(config)) {
  config_.validate();
  const size_t V = config_.vocab_size, C = config_.d_model, F = config_.d_ff;
  const bool gpt2 = config_.arch == GptArch::kGpt2;
  wte_ = layout_.add(gpt2 ? "transformer.wte.weight" : "transformer.tokens_embed.weight", {V, C}, false);
  wpe_ = layout_.add(gpt2 ? "transformer.wpe.weight" : "transformer.positions_embed.weight", {config_.max_len, C}, false);
  for (size_t l = 0; l < config_.n_layer; ++l) {
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    LayerOffsets o{};
    const auto norm = [&](const char* name, size_t& w, size_t& b) {
      w = layout_.add(h + name + ".weight", {C}, false);
      b = layout_.add(h + name + ".bias", {C}, false);
    };
    if (gpt2) norm("ln_1", o.ln1_w, o.ln1_b);
    o.qkv_w = layout_.add(h + "attn.c_attn.weight", {C, 3 * C}, true);
    o.qkv_b = layout_.add(h + "attn.c_attn.bias", {3 * C}, false);
    o.proj_w = layout_.add(h + "attn.c_proj.weight", {C, C}, true);
    o.proj_b = layout_.add(h + "attn.c_proj.bias", {C}, false);
    norm(gpt2 ? "ln_2" : "ln_1", gpt2 ? o.ln2_w : o.ln1_w, gpt2 ? o.ln2_b : o.ln1_b);
    o.fc_w = layout_.add(h + "mlp.c_fc.weight", {C, F}, true);
    o.fc_b = layout_.add(h + "mlp.c_fc.bias", {F}, false);
    o.fcproj_w = layout_.add(h + "mlp.c_proj.weight", {F, C}, true);
    o.fcproj_b = layout_.add(h + "mlp.c_proj.bias", {C}, false);
    if (!gpt2) norm("ln_2", o.ln2_w, o.ln2_b);
    layers_.push_back(o);
  }
  if (gpt2) {
    lnf_w_ = layout_.add("transformer.ln_f.weight", {C}, false);
    lnf_b_ = layout_.add("transformer.ln_f.bias", {C}, false);
  }
  if (config_.head == GptHead::kScore) score_w_ = layout_.add("score.weight", {1, C}, true);
  if (buffers != ModelBuffers::kLayout) params_.assign(layout_.total(), T(0));
  if (buffers == ModelBuffers::kTraining) grads_.assign(layout_.total(), T(0));
}

template <class T>
std::unique_ptr<Gpt<T>> Gpt<T>::replica_of(const Gpt& owner) {
  auto replica = std::make_unique<Gpt>(owner.config_, ModelBuffers::kLayout);
  if (owner.grads_.size() == owner.layout_.total()) replica->grads_.assign(replica->layout_.total(), T(0));
  replica->params_owner_ = owner.params_owner_ ? owner.params_owner_ : &owner;
  replica->logit_scale_ = owner.logit_scale_;
  return replica;
}

template <class T>
void Gpt<T>::init(uint64_t seed) {
  if (params_.size() != layout_.total() && bound_params_ == nullptr)
    throw Error("Gpt::init on a model without parameters of its own");
  T* params = bound_params_ ? bound_params_ : params_.data();
  Rng rng(seed, {0x6770745f696e6974ULL});  // "gpt_init"
  const double residual_std = 0.02 / std::sqrt(2.0 * double(config_.n_layer));
  for (const TensorInfo& t : layout_.tensors()) {
    T* data = params + t.offset;
    const bool is_norm = t.name.find(".ln_") != std::string::npos;
    const bool is_bias = t.name.ends_with(".bias");
    if (is_norm && !is_bias) {
      std::fill(data, data + t.size, T(1));
    } else if (is_bias) {
      std::fill(data, data + t.size, T(0));
    } else {
      const bool residual = t.name.ends_with("attn.c_proj.weight") || t.name.ends_with("mlp.c_proj.weight");
      const double std = residual ? residual_std : 0.02;
      for (size_t i = 0; i < t.size; ++i) data[i] = T(rng.normal() * std);
    }
  }
}

template <class T>
void Gpt<T>::zero_grad() {
  // GPT-2 124M's gradients are 500 MB: a pass over them is worth both cores.
  T* grads = g(0);
  const size_t n = has_grads() ? layout_.total() : 0;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) grads[i] = T(0);
}

template <class T>
uint64_t Gpt<T>::site_key(size_t layer, int site) const {
  return dropout_site_key(dropout_key_, layer, site);
}

template <class T>
void Gpt<T>::plan(size_t B, size_t Tn) {
  if (B == planned_B_ && Tn == planned_T_) return;
  const size_t N = B * Tn, C = config_.d_model, F = config_.d_ff, H = config_.n_head;
  BufferPlan arrays;
  encoded_ = arrays.take(N * C);
  layer_acts_.assign(config_.n_layer, LayerActs{});
  for (LayerActs& la : layer_acts_) {
    la.ln1 = arrays.take(N * C);
    la.ln1_mean = arrays.take(N);
    la.ln1_rstd = arrays.take(N);
    la.qkv = arrays.take(N * 3 * C);
    la.atty = arrays.take(N * C);
    la.lse = arrays.take(B * H * Tn);
    la.res2 = arrays.take(N * C);
    la.ln2 = arrays.take(N * C);
    la.ln2_mean = arrays.take(N);
    la.ln2_rstd = arrays.take(N);
    la.fch = arrays.take(N * F);
    la.fch_gelu = arrays.take(N * F);
    la.res3 = arrays.take(N * C);
  }
  lnf_ = arrays.take(N * C);
  lnf_mean_ = arrays.take(N);
  lnf_rstd_ = arrays.take(N);
  losses_ = arrays.take(N);
  acts_.assign(arrays.total(), T(0));
  dres_.assign(N * C, T(0));
  dtmp_.assign(3 * N * C, T(0));
  dqkv_.assign(3 * N * C, T(0));
  dfch_.assign(N * F, T(0));
  dfch2_.assign(N * F, T(0));
  planned_B_ = B;
  planned_T_ = Tn;
}

template <class T>
const T* Gpt<T>::block_input(size_t layer) const {
  if (layer == 0) return acts_.data() + encoded_;
  const LayerActs& prev = layer_acts_[layer - 1];
  return acts_.data() + (config_.arch == GptArch::kGpt2 ? prev.res3 : prev.ln2);
}

template <class T>
void Gpt<T>::run_forward(const uint32_t* inputs, const uint32_t* positions, size_t B, size_t Tn, bool train) {
  plan(B, Tn);
  train_ = train;
  const size_t N = B * Tn, C = config_.d_model, F = config_.d_ff, NH = config_.n_head;
  const T eps = T(config_.ln_eps);
  const T drop = train ? T(config_.dropout) : T(0);
  const bool gpt2 = config_.arch == GptArch::kGpt2;
  // out = residual + dropout(inp @ weight + bias); without dropout in one pass before the product.
  const auto residual_branch = [&](T* out, const T* inp, size_t wo, size_t bo, const T* residual, size_t K,
                                   uint64_t key) {
    if (drop > T(0)) {
      linear_forward(out, inp, p(wo), p(bo), N, K, C);
      dropout_apply(out, N * C, drop, key);
      for (size_t i = 0; i < N * C; ++i) out[i] += residual[i];
    } else {
      linear_residual_forward(out, inp, p(wo), p(bo), residual, N, K, C);
    }
  };
  const AttentionMask attention{true, nullptr, positions};
  embedding_forward(a(encoded_), inputs, p(wte_), p(wpe_), N, Tn, C, positions);
  for (size_t r = 0; r < injected_count_; ++r) {
    const size_t row = injected_rows_[r];
    if (row >= N) throw Error(fmt::format("Gpt: an input embedding for row {} of {}", row, N));
    const size_t pos = positions ? positions[row] : row % Tn;
    T* x = a(encoded_) + row * C;
    for (size_t c = 0; c < C; ++c) x[c] = injected_[r * C + c] + p(wpe_)[pos * C + c];
  }
  dropout_apply(a(encoded_), N * C, drop, site_key(config_.n_layer, kEmbedding));
  for (size_t l = 0; l < config_.n_layer; ++l) {
    const LayerOffsets& w = layers_[l];
    const LayerActs& x = layer_acts_[l];
    const T* in = block_input(l);
    // Attention: GPT-2 normalises its input; GPT normalises the sum afterwards.
    const T* attn_in = in;
    if (gpt2) {
      layernorm_forward(a(x.ln1), a(x.ln1_mean), a(x.ln1_rstd), in, p(w.ln1_w), p(w.ln1_b), N, C, eps);
      attn_in = a(x.ln1);
    }
    linear_forward(a(x.qkv), attn_in, p(w.qkv_w), p(w.qkv_b), N, C, 3 * C);
    attention_forward(a(x.atty), a(x.lse), a(x.qkv), attention, B, Tn, C, NH, drop, site_key(l, kAttention));
    T* res2 = a(x.res2);
    residual_branch(res2, a(x.atty), w.proj_w, w.proj_b, in, C, site_key(l, kAttentionResidual));
    // MLP.
    const T* mlp_in;
    if (gpt2) {
      layernorm_forward(a(x.ln2), a(x.ln2_mean), a(x.ln2_rstd), res2, p(w.ln2_w), p(w.ln2_b), N, C, eps);
      mlp_in = a(x.ln2);
    } else {
      layernorm_forward(a(x.ln1), a(x.ln1_mean), a(x.ln1_rstd), res2, p(w.ln1_w), p(w.ln1_b), N, C, eps);
      mlp_in = a(x.ln1);
    }
    linear_forward(a(x.fch), mlp_in, p(w.fc_w), p(w.fc_b), N, C, F);
    gelu_forward(a(x.fch_gelu), a(x.fch), N * F, Gelu::kTanh);
    T* res3 = a(x.res3);
    const T* mlp_residual = gpt2 ? res2 : mlp_in;  // GPT adds the MLP to its normalised input
    residual_branch(res3, a(x.fch_gelu), w.fcproj_w, w.fcproj_b, mlp_residual, F, site_key(l, kMlpResidual));
    if (!gpt2) layernorm_forward(a(x.ln2), a(x.ln2_mean), a(x.ln2_rstd), res3, p(w.ln2_w), p(w.ln2_b), N, C, eps);
  }
  if (gpt2) {
    const LayerActs& last = layer_acts_.back();
    layernorm_forward(a(lnf_), a(lnf_mean_), a(lnf_rstd_), a(last.res3), p(lnf_w_), p(lnf_b_), N, C, eps);
  }
}

template <class T>
void Gpt<T>::require_head(GptHead head, const char* what) const {
  if (config_.head != head)
    throw Error(fmt::format("Gpt::{} on a model with {} head", what, config_.head == GptHead::kLm ? "an LM" : "a score"));
}

template <class T>
double Gpt<T>::forward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn, const uint32_t* positions) {
  require_head(GptHead::kLm, "forward");
  run_forward(inputs, positions, B, Tn, false);
  const size_t N = B * Tn;
  const T* head_in = config_.arch == GptArch::kGpt2 ? a(lnf_) : a(layer_acts_.back().ln2);
  size_t counted = 0;
  const double total = lm_head_loss<T>(nullptr, nullptr, a(losses_), head_in, p(wte_), targets, N, config_.d_model,
                                       config_.vocab_size, T(0), &counted, kHeadRowsPerChunk, nullptr, nullptr,
                                       nullptr, nullptr, logit_scale_);
  return counted ? total / double(counted) : 0.0;
}

template <class T>
double Gpt<T>::forward_backward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn, T grad_scale,
                                const uint32_t* positions) {
  if (!has_grads()) throw Error("Gpt::forward_backward on a model made without gradients");
  require_head(GptHead::kLm, "forward_backward");
  run_forward(inputs, positions, B, Tn, true);
  const size_t N = B * Tn, C = config_.d_model;
  const size_t counted_targets = size_t(std::count_if(targets, targets + N, [](uint32_t t) { return t != kIgnore; }));
  const T scale = counted_targets ? grad_scale / T(counted_targets) : T(0);
  const T* head_in = head_input();
  size_t counted = 0;
  const double total = lm_head_loss<T>(dhead_buffer(), g(wte_), a(losses_), head_in, p(wte_), targets, N, C,
                                       config_.vocab_size, scale, &counted);
  backward_from_head(inputs, positions, B, Tn);
  return counted ? total / double(counted) : 0.0;
}

template <class T>
void Gpt<T>::forward_train(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn) {
  if (!has_grads()) throw Error("Gpt::forward_train on a model made without gradients");
  require_head(GptHead::kLm, "forward_train");
  run_forward(inputs, nullptr, B, Tn, true);
  const size_t N = B * Tn, V = config_.vocab_size;
  const size_t K = size_t(std::count_if(targets, targets + N, [](uint32_t t) { return t != kIgnore; }));
  head_kept_ = K * V * sizeof(T) <= kKeptHeadBytes;
  if (head_kept_) {
    lm_head_keep<T>(head_probs_, a(losses_), head_input(), p(wte_), targets, N, config_.d_model, V, logit_scale_);
  } else {
    head_probs_ = {};
    size_t counted = 0;
    lm_head_loss<T>(nullptr, nullptr, a(losses_), head_input(), p(wte_), targets, N, config_.d_model, V, T(0),
                    &counted, kHeadRowsPerChunk, nullptr, nullptr, nullptr, nullptr, logit_scale_);
  }
}

// From the probabilities forward_train kept; past kKeptHeadBytes of them the head's logits are computed
// again, one more product of the head.
template <class T>
void Gpt<T>::backward_weighted(const T* row_scale, const uint32_t* inputs, const uint32_t* targets, size_t B,
                               size_t Tn) {
  require_head(GptHead::kLm, "backward_weighted");
  if (!train_ || B != planned_B_ || Tn != planned_T_) throw Error("Gpt::backward_weighted without forward_train before");
  if (head_kept_) {
    lm_head_kept_backward<T>(dhead_buffer(), g(wte_), head_probs_, head_input(), p(wte_), targets, row_scale, B * Tn,
                             config_.d_model, config_.vocab_size, logit_scale_);
    head_kept_ = false;  // the probabilities are gradients now
  } else {
    size_t counted = 0;
    lm_head_loss<T>(dhead_buffer(), g(wte_), a(losses_), head_input(), p(wte_), targets, B * Tn, config_.d_model,
                    config_.vocab_size, T(0), &counted, kHeadRowsPerChunk, nullptr, nullptr, nullptr, row_scale,
                    logit_scale_);
  }
  backward_from_head(inputs, nullptr, B, Tn);
}

template <class T>
void Gpt<T>::backward_from_head(const uint32_t* inputs, const uint32_t* positions, size_t B, size_t Tn) {
  const size_t N = B * Tn, C = config_.d_model;
  if (config_.arch == GptArch::kGpt2)
    layernorm_backward(dres_.data(), g(lnf_w_), g(lnf_b_), dhead_buffer(), a(layer_acts_.back().res3), p(lnf_w_),
                       a(lnf_mean_), a(lnf_rstd_), N, C);
  run_backward(inputs, positions, B, Tn);
}

// score = h[last] . w, h the head's input (GPT-2: the final layer norm's output), as transformers'
// GPT2ForSequenceClassification computes it (score = nn.Linear(n_embd, 1, bias=False), pooled at the last
// token).
template <class T>
void Gpt<T>::score(T* out, const uint32_t* inputs, const uint32_t* last, size_t B, size_t Tn, bool train) {
  require_head(GptHead::kScore, "score");
  std::vector<uint32_t> rows(B);
  for (size_t b = 0; b < B; ++b) {
    if (last[b] >= Tn) throw Error(fmt::format("Gpt::score: last token {} of a sequence of {}", last[b], Tn));
    rows[b] = uint32_t(b * Tn + last[b]);
  }
  score_rows(out, inputs, rows.data(), B, B, Tn, train);
}

template <class T>
void Gpt<T>::score_backward(const T* dscores, const uint32_t* inputs, const uint32_t* last, size_t B, size_t Tn) {
  std::vector<uint32_t> rows(B);
  for (size_t b = 0; b < B; ++b) rows[b] = uint32_t(b * Tn + last[b]);
  score_rows_backward(dscores, inputs, rows.data(), B, B, Tn);
}

template <class T>
void Gpt<T>::score_rows(T* out, const uint32_t* inputs, const uint32_t* rows, size_t R, size_t B, size_t Tn,
                        bool train) {
  require_head(GptHead::kScore, "score");
  if (train && !has_grads()) throw Error("Gpt::score for training on a model made without gradients");
  for (size_t r = 0; r < R; ++r)
    if (rows[r] >= B * Tn) throw Error(fmt::format("Gpt::score: row {} of {} positions", rows[r], B * Tn));
  run_forward(inputs, nullptr, B, Tn, train);
  const size_t C = config_.d_model;
  const T* w = p(score_w_);
  for (size_t r = 0; r < R; ++r) {
    const T* h = head_input() + size_t(rows[r]) * C;
    double s = 0;
    for (size_t c = 0; c < C; ++c) s += double(h[c]) * double(w[c]);
    out[r] = T(s);
  }
}

template <class T>
void Gpt<T>::score_rows_backward(const T* dscores, const uint32_t* inputs, const uint32_t* rows, size_t R, size_t B,
                                 size_t Tn) {
  require_head(GptHead::kScore, "score_backward");
  if (!train_ || B != planned_B_ || Tn != planned_T_) throw Error("Gpt::score_backward without score(..., train) before");
  const size_t N = B * Tn, C = config_.d_model;
  T* dhead = dhead_buffer();
  std::fill(dhead, dhead + N * C, T(0));
  const T* w = p(score_w_);
  T* dw = g(score_w_);
  for (size_t r = 0; r < R; ++r) {
    const size_t row = size_t(rows[r]) * C;
    const T* h = head_input() + row;
    for (size_t c = 0; c < C; ++c) {
      dw[c] += dscores[r] * h[c];
      dhead[row + c] += dscores[r] * w[c];
    }
  }
  backward_from_head(inputs, nullptr, B, Tn);
}

template <class T>
void Gpt<T>::run_backward(const uint32_t* inputs, const uint32_t* positions, size_t B, size_t Tn) {
  const size_t N = B * Tn, C = config_.d_model, F = config_.d_ff, NH = config_.n_head;
  const T drop = train_ ? T(config_.dropout) : T(0);
  const bool gpt2 = config_.arch == GptArch::kGpt2;
  const AttentionMask attention{true, nullptr, positions};
  T* dres = dres_.data();  // on entry: the gradient of the last block's output
  T* d1 = dtmp_.data();
  T* d2 = dtmp_.data() + N * C;
  T* datty = dtmp_.data() + 2 * N * C;
  const auto add = [&](T* to, const T* from) {
    for (size_t i = 0; i < N * C; ++i) to[i] += from[i];
  };
  // The gradient of a residual branch's output before its dropout: a masked copy in d1, or grad itself.
  const auto through_dropout = [&](const T* grad, uint64_t key) -> const T* {
    if (drop <= T(0)) return grad;
    std::copy(grad, grad + N * C, d1);
    dropout_apply(d1, N * C, drop, key);
    return d1;
  };
  for (size_t l = config_.n_layer; l-- > 0;) {
    const LayerOffsets& w = layers_[l];
    const LayerActs& x = layer_acts_[l];
    const T* in = block_input(l);
    if (gpt2) {
      // res3 = res2 + drop(mlp(ln2(res2))): dres is d res3.
      const T* dmlp = through_dropout(dres, site_key(l, kMlpResidual));
      linear_backward(dfch2_.data(), g(w.fcproj_w), g(w.fcproj_b), dmlp, a(x.fch_gelu), p(w.fcproj_w), N, F, C);
      gelu_backward(dfch_.data(), dfch2_.data(), a(x.fch), a(x.fch_gelu), N * F, Gelu::kTanh);
      linear_backward(d1, g(w.fc_w), g(w.fc_b), dfch_.data(), a(x.ln2), p(w.fc_w), N, C, F);
      layernorm_backward(d2, g(w.ln2_w), g(w.ln2_b), d1, a(x.res2), p(w.ln2_w), a(x.ln2_mean), a(x.ln2_rstd), N, C);
      add(dres, d2);  // now d res2
      // res2 = in + drop(proj(attention(qkv(ln1(in))))).
      const T* dproj = through_dropout(dres, site_key(l, kAttentionResidual));
      linear_backward(datty, g(w.proj_w), g(w.proj_b), dproj, a(x.atty), p(w.proj_w), N, C, C);
      attention_backward(dqkv_.data(), datty, a(x.qkv), a(x.atty), a(x.lse), attention, B, Tn, C, NH, drop,
                         site_key(l, kAttention));
      linear_backward(d1, g(w.qkv_w), g(w.qkv_b), dqkv_.data(), a(x.ln1), p(w.qkv_w), N, C, 3 * C);
      layernorm_backward(d2, g(w.ln1_w), g(w.ln1_b), d1, in, p(w.ln1_w), a(x.ln1_mean), a(x.ln1_rstd), N, C);
      add(dres, d2);  // now d in
    } else {
      // out = LN2(res3), res3 = ln1 + drop(mlp(ln1)), ln1 = LN1(res2), res2 = in + drop(attention(in)).
      layernorm_backward(d2, g(w.ln2_w), g(w.ln2_b), dres, a(x.res3), p(w.ln2_w), a(x.ln2_mean), a(x.ln2_rstd), N, C);
      const T* dmlp = through_dropout(d2, site_key(l, kMlpResidual));
      linear_backward(dfch2_.data(), g(w.fcproj_w), g(w.fcproj_b), dmlp, a(x.fch_gelu), p(w.fcproj_w), N, F, C);
      gelu_backward(dfch_.data(), dfch2_.data(), a(x.fch), a(x.fch_gelu), N * F, Gelu::kTanh);
      linear_backward(d1, g(w.fc_w), g(w.fc_b), dfch_.data(), a(x.ln1), p(w.fc_w), N, C, F);
      add(d1, d2);  // d ln1: through the MLP and the residual
      layernorm_backward(dres, g(w.ln1_w), g(w.ln1_b), d1, a(x.res2), p(w.ln1_w), a(x.ln1_mean), a(x.ln1_rstd), N, C);
      const T* dproj = through_dropout(dres, site_key(l, kAttentionResidual));  // dres: d res2
      linear_backward(datty, g(w.proj_w), g(w.proj_b), dproj, a(x.atty), p(w.proj_w), N, C, C);
      attention_backward(dqkv_.data(), datty, a(x.qkv), a(x.atty), a(x.lse), attention, B, Tn, C, NH, drop,
                         site_key(l, kAttention));
      linear_backward(d1, g(w.qkv_w), g(w.qkv_b), dqkv_.data(), in, p(w.qkv_w), N, C, 3 * C);
      add(dres, d1);  // d in
    }
  }
  dropout_apply(dres, N * C, drop, site_key(config_.n_layer, kEmbedding));
  // Given embeddings: their gradient goes out, and to the positions, not to a token's embedding.
  for (size_t r = 0; r < injected_count_; ++r) {
    const size_t row = injected_rows_[r], pos = positions ? positions[row] : row % Tn;
    T* d = dres + row * C;
    for (size_t c = 0; c < C; ++c) g(wpe_)[pos * C + c] += d[c];
    if (dinjected_ != nullptr) std::copy_n(d, C, dinjected_ + r * C);
    std::fill_n(d, C, T(0));
  }
  embedding_backward(g(wte_), g(wpe_), dres, inputs, N, Tn, C, positions);
}

template <class T>
void Gpt<T>::last_logits(T* out, const uint32_t* inputs, size_t B, size_t Tn) {
  require_head(GptHead::kLm, "last_logits");
  run_forward(inputs, nullptr, B, Tn, false);
  const size_t C = config_.d_model;
  const T* head_in = config_.arch == GptArch::kGpt2 ? a(lnf_) : a(layer_acts_.back().ln2);
  for (size_t b = 0; b < B; ++b)
    lm_head_logits(out + b * config_.vocab_size, head_in + ((b + 1) * Tn - 1) * C, p(wte_), 1, C, config_.vocab_size);
}

template class Gpt<float>;
template class Gpt<double>;

}  // namespace lmpipe::nn
