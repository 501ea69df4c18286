#include "nn/bert.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "nn/layers.h"

namespace lmpipe::nn {

template <class T>
Bert<T>::Bert(BertConfig config, ModelBuffers buffers) : config_(std::move(config)) {
  config_.validate();
  const size_t V = config_.vocab_size, C = config_.d_model, F = config_.d_ff;
  const std::string base = config_.arch == EncoderArch::kBert ? "bert." : "roberta.";
  // Google's BERT decays every weight but layer norms and biases, embeddings included.
  word_ = layout_.add(base + "embeddings.word_embeddings.weight", {V, C}, true);
  pos_ = layout_.add(base + "embeddings.position_embeddings.weight", {config_.max_len + config_.position_offset, C}, true);
  type_ = layout_.add(base + "embeddings.token_type_embeddings.weight", {config_.type_vocab_size, C}, true);
  emb_ln_w_ = layout_.add(base + "embeddings.LayerNorm.weight", {C}, false);
  emb_ln_b_ = layout_.add(base + "embeddings.LayerNorm.bias", {C}, false);
  for (size_t l = 0; l < config_.n_layer; ++l) {
    const std::string h = base + "encoder.layer." + std::to_string(l) + ".";
    LayerOffsets o{};
    const auto linear = [&](const std::string& name, size_t out, size_t in, size_t& w, size_t& b) {
      w = layout_.add(h + name + ".weight", {out, in}, true);
      b = layout_.add(h + name + ".bias", {out}, false);
    };
    const auto norm = [&](const std::string& name, size_t& w, size_t& b) {
      w = layout_.add(h + name + ".weight", {C}, false);
      b = layout_.add(h + name + ".bias", {C}, false);
    };
    // Query, key and value weights side by side, then their biases: one [3C, C] product makes qkv.
    o.q_w = layout_.add(h + "attention.self.query.weight", {C, C}, true);
    o.k_w = layout_.add(h + "attention.self.key.weight", {C, C}, true);
    o.v_w = layout_.add(h + "attention.self.value.weight", {C, C}, true);
    o.q_b = layout_.add(h + "attention.self.query.bias", {C}, false);
    o.k_b = layout_.add(h + "attention.self.key.bias", {C}, false);
    o.v_b = layout_.add(h + "attention.self.value.bias", {C}, false);
    linear("attention.output.dense", C, C, o.o_w, o.o_b);
    norm("attention.output.LayerNorm", o.ln1_w, o.ln1_b);
    linear("intermediate.dense", F, C, o.i_w, o.i_b);
    linear("output.dense", C, F, o.o2_w, o.o2_b);
    norm("output.LayerNorm", o.ln2_w, o.ln2_b);
    layers_.push_back(o);
  }
  if (config_.arch == EncoderArch::kBert) {
    pool_w_ = layout_.add("bert.pooler.dense.weight", {C, C}, true);
    pool_b_ = layout_.add("bert.pooler.dense.bias", {C}, false);
    mlm_w_ = layout_.add("cls.predictions.transform.dense.weight", {C, C}, true);
    mlm_b_ = layout_.add("cls.predictions.transform.dense.bias", {C}, false);
    mlm_ln_w_ = layout_.add("cls.predictions.transform.LayerNorm.weight", {C}, false);
    mlm_ln_b_ = layout_.add("cls.predictions.transform.LayerNorm.bias", {C}, false);
    mlm_bias_ = layout_.add("cls.predictions.bias", {V}, false);
    nsp_w_ = layout_.add("cls.seq_relationship.weight", {2, C}, true);
    nsp_b_ = layout_.add("cls.seq_relationship.bias", {2}, false);
  } else {
    mlm_w_ = layout_.add("lm_head.dense.weight", {C, C}, true);
    mlm_b_ = layout_.add("lm_head.dense.bias", {C}, false);
    mlm_ln_w_ = layout_.add("lm_head.layer_norm.weight", {C}, false);
    mlm_ln_b_ = layout_.add("lm_head.layer_norm.bias", {C}, false);
    mlm_bias_ = layout_.add("lm_head.bias", {V}, false);
  }
  if (buffers != ModelBuffers::kLayout) params_.assign(layout_.total(), T(0));
  if (buffers == ModelBuffers::kTraining) grads_.assign(layout_.total(), T(0));
}

template <class T>
void Bert<T>::init(uint64_t seed) {
  Rng rng(seed, {0x626572745f696e69ULL});  // "bert_ini"
  for (const TensorInfo& t : layout_.tensors()) {
    T* data = params_.data() + t.offset;
    const bool is_norm = t.name.find("LayerNorm") != std::string::npos || t.name.find("layer_norm") != std::string::npos;
    const bool is_bias = t.name.ends_with("bias");
    if (is_norm && !is_bias) {
      std::fill(data, data + t.size, T(1));
    } else if (is_bias) {
      std::fill(data, data + t.size, T(0));
    } else {
      for (size_t i = 0; i < t.size; ++i) data[i] = T(rng.normal() * 0.02);
    }
  }
}

template <class T>
void Bert<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
uint64_t Bert<T>::site_key(size_t layer, int site) const {
  return dropout_site_key(dropout_key_, layer, site);
}

template <class T>
void Bert<T>::plan(size_t B, size_t Tn, size_t M) {
  if (B != planned_B_ || Tn != planned_T_) plan_encoder(B, Tn);
  // The number of masked rows changes from batch to batch: the MLM head keeps room for the most seen (and
  // an eighth more), in buffers of its own, so a batch with more masks does not re-plan the encoder.
  if (M > planned_M_ || dm_.size() < std::max(planned_M_, B) * config_.d_model * 3)
    plan_mlm_head(std::max(M, planned_M_ + planned_M_ / 8), B);
}

template <class T>
void Bert<T>::plan_encoder(size_t B, size_t Tn) {
  const size_t N = B * Tn, C = config_.d_model, F = config_.d_ff, H = config_.n_head;
  BufferPlan arrays;
  emb_ = arrays.take(N * C);
  emb_mean_ = arrays.take(N);
  emb_rstd_ = arrays.take(N);
  x0_ = arrays.take(N * C);
  layer_acts_.assign(config_.n_layer, LayerActs{});
  for (LayerActs& la : layer_acts_) {
    la.qkv = arrays.take(N * 3 * C);
    la.att = arrays.take(N * C);
    la.lse = arrays.take(B * H * Tn);
    la.res1 = arrays.take(N * C);
    la.ln1_mean = arrays.take(N);
    la.ln1_rstd = arrays.take(N);
    la.h1 = arrays.take(N * C);
    la.fpre = arrays.take(N * F);
    la.fgelu = arrays.take(N * F);
    la.res2 = arrays.take(N * C);
    la.ln2_mean = arrays.take(N);
    la.ln2_rstd = arrays.take(N);
    la.out = arrays.take(N * C);
  }
  top_att_ = arrays.take(N * C);
  cls_ = arrays.take(B * C);
  pooled_ = arrays.take(B * C);
  nsp_logits_ = arrays.take(B * 2);
  acts_.assign(arrays.total(), T(0));
  dx_.assign(N * C, T(0));
  dtmp_.assign(N * C, T(0));
  dtmp2_.assign(N * C, T(0));
  dqkv_.assign(N * 3 * C, T(0));
  dproj_.assign(N * C, T(0));
  dfch_.assign(N * F, T(0));
  dfch2_.assign(N * F, T(0));
  planned_B_ = B;
  planned_T_ = Tn;
}

template <class T>
void Bert<T>::plan_mlm_head(size_t M, size_t B) {
  const size_t C = config_.d_model;
  BufferPlan arrays;
  gathered_ = arrays.take(M * C);
  t_pre_ = arrays.take(M * C);
  t_gelu_ = arrays.take(M * C);
  t_mean_ = arrays.take(M);
  t_rstd_ = arrays.take(M);
  u_ = arrays.take(M * C);
  mlm_losses_ = arrays.take(M);
  head_acts_.assign(arrays.total(), T(0));
  dm_.assign(std::max(M, B) * C * 3, T(0));
  mlm_predictions_.assign(M, 0);
  planned_M_ = M;
}

template <class T>
const T* Bert<T>::layer_input(size_t layer) const {
  return acts_.data() + (layer == 0 ? x0_ : layer_acts_[layer - 1].out);
}

template <class T>
void Bert<T>::select_top_rows(const EncoderBatch& batch) {
  const size_t N = batch.B * batch.Tn;
  constexpr uint32_t kUnused = UINT32_MAX;
  top_slot_.assign(N, kUnused);
  for (size_t m = 0; m < batch.M; ++m) {
    if (batch.mlm_rows[m] >= N) throw Error(fmt::format("masked position {} is outside the batch", batch.mlm_rows[m]));
    top_slot_[batch.mlm_rows[m]] = 0;
  }
  if (config_.nsp())
    for (size_t b = 0; b < batch.B; ++b) top_slot_[b * batch.Tn] = 0;  // [CLS]
  top_rows_.clear();
  for (size_t n = 0; n < N; ++n)
    if (top_slot_[n] != kUnused) {
      top_slot_[n] = uint32_t(top_rows_.size());
      top_rows_.push_back(uint32_t(n));
    }
}

template <class T>
void Bert<T>::forward_layers(const EncoderBatch& batch, bool train) {
  const size_t B = batch.B, Tn = batch.Tn, N = B * Tn, C = config_.d_model, NH = config_.n_head;
  const T eps = T(config_.ln_eps), drop = train ? T(config_.dropout) : T(0);
  for (size_t n = 0; n < N; ++n) {
    if (batch.ids[n] >= config_.vocab_size)
      throw Error(fmt::format("token id {} is outside the vocabulary of {}", batch.ids[n], config_.vocab_size));
    if (batch.segments != nullptr && batch.segments[n] >= config_.type_vocab_size)
      throw Error(fmt::format("segment {} is outside the model's {} segments", batch.segments[n], config_.type_vocab_size));
  }
  if (Tn > config_.max_len) throw Error(fmt::format("sequences of {} exceed the model's {} positions", Tn, config_.max_len));
  select_top_rows(batch);
  // Embeddings: word + position (after RoBERTa's offset) + segment, layer norm, dropout.
  T* e = a(emb_);
  embedding_forward(e, batch.ids, p(word_), p(pos_) + config_.position_offset * C, N, Tn, C);
  for (size_t n = 0; n < N; ++n) {
    const T* t = p(type_) + size_t(batch.segments != nullptr ? batch.segments[n] : 0) * C;
    for (size_t c = 0; c < C; ++c) e[n * C + c] += t[c];
  }
  layernorm_forward(a(x0_), a(emb_mean_), a(emb_rstd_), e, p(emb_ln_w_), p(emb_ln_b_), N, C, eps);
  dropout_apply(a(x0_), N * C, drop, site_key(config_.n_layer, kEmbedding));
  for (size_t l = 0; l < config_.n_layer; ++l) {
    const LayerOffsets& w = layers_[l];
    const LayerActs& x = layer_acts_[l];
    // Q, K and V side by side in qkv's rows, as attention_forward takes them: one product with the three
    // weights, which the layout keeps together.
    T* qkv = a(x.qkv);
    linear_t_forward(qkv, layer_input(l), p(w.q_w), p(w.q_b), N, C, 3 * C);
    attention_forward(a(x.att), a(x.lse), qkv, AttentionMask{false, batch.attend}, B, Tn, C, NH, drop, site_key(l, kAttention));
    if (l + 1 < config_.n_layer) {
      after_attention_forward(l, a(x.att), nullptr, N, drop);
    } else {
      // Only the masked rows and [CLS] leave the top layer (to the MLM and NSP heads): its keys and values
      // need every row, the rest of it only those (a sixth of the rows at 15% masking).
      T* att = a(top_att_);
      for (size_t r = 0; r < top_rows_.size(); ++r) std::copy_n(a(x.att) + size_t(top_rows_[r]) * C, C, att + r * C);
      after_attention_forward(l, att, top_rows_.data(), top_rows_.size(), drop);
    }
  }
}

template <class T>
void Bert<T>::after_attention_forward(size_t l, const T* att, const uint32_t* rows, size_t R, T drop) {
  const size_t C = config_.d_model, F = config_.d_ff;
  const T eps = T(config_.ln_eps);
  const LayerOffsets& w = layers_[l];
  const LayerActs& x = layer_acts_[l];
  const T* in = layer_input(l);
  // Post-LN: h1 = LN(drop(att Wo) + in), out = LN(drop(gelu(h1 Wi) Wo2) + h1).
  T* res1 = a(x.res1);
  linear_t_forward(res1, att, p(w.o_w), p(w.o_b), R, C, C);
  dropout_apply_rows(res1, rows, R, C, drop, site_key(l, kAttentionOutput));
  for (size_t r = 0; r < R; ++r) {
    const T* from = in + size_t(rows != nullptr ? rows[r] : r) * C;
    for (size_t c = 0; c < C; ++c) res1[r * C + c] += from[c];
  }
  layernorm_forward(a(x.h1), a(x.ln1_mean), a(x.ln1_rstd), res1, p(w.ln1_w), p(w.ln1_b), R, C, eps);
  linear_t_forward(a(x.fpre), a(x.h1), p(w.i_w), p(w.i_b), R, C, F);
  gelu_forward(a(x.fgelu), a(x.fpre), R * F, config_.gelu);
  T* res2 = a(x.res2);
  linear_t_forward(res2, a(x.fgelu), p(w.o2_w), p(w.o2_b), R, F, C);
  dropout_apply_rows(res2, rows, R, C, drop, site_key(l, kFeedForwardOutput));
  const T* h1 = a(x.h1);
  for (size_t i = 0; i < R * C; ++i) res2[i] += h1[i];
  layernorm_forward(a(x.out), a(x.ln2_mean), a(x.ln2_rstd), res2, p(w.ln2_w), p(w.ln2_b), R, C, eps);
}

template <class T>
void Bert<T>::mlm_transform(const EncoderBatch& batch) {
  const size_t M = batch.M, C = config_.d_model;
  const T* top = a(layer_acts_.back().out);
  for (size_t m = 0; m < M; ++m) std::copy_n(top + size_t(top_slot_[batch.mlm_rows[m]]) * C, C, mh(gathered_) + m * C);
  linear_t_forward(mh(t_pre_), mh(gathered_), p(mlm_w_), p(mlm_b_), M, C, C);
  gelu_forward(mh(t_gelu_), mh(t_pre_), M * C, config_.gelu);
  layernorm_forward(mh(u_), mh(t_mean_), mh(t_rstd_), mh(t_gelu_), p(mlm_ln_w_), p(mlm_ln_b_), M, C, T(config_.ln_eps));
}

template <class T>
void Bert<T>::mlm_logits(const EncoderBatch& batch, T* out) {
  const size_t M = batch.M, C = config_.d_model, V = config_.vocab_size;
  plan(batch.B, batch.Tn, M);
  forward_layers(batch, false);
  mlm_transform(batch);
  lm_head_logits(out, mh(u_), p(word_), M, C, V);
  const T* bias = p(mlm_bias_);
  for (size_t m = 0; m < M; ++m)
    for (size_t v = 0; v < V; ++v) out[m * V + v] += bias[v];
}

template <class T>
EncoderLoss Bert<T>::run(const EncoderBatch& batch, bool train, T grad_scale) {
  const size_t B = batch.B, Tn = batch.Tn, M = batch.M, C = config_.d_model, V = config_.vocab_size;
  if (train && grads_.size() != layout_.total()) throw Error("Bert::forward_backward on a model made without gradients");
  if (config_.nsp() && batch.nsp_labels == nullptr) throw Error("a BERT batch needs next-sentence labels");
  plan(B, Tn, M);
  forward_layers(batch, train);
  const T* top = a(layer_acts_.back().out);
  EncoderLoss loss;

  // MLM at the masked positions only: gather, transform (dense, GELU, layer norm), tied decoder + bias.
  mlm_transform(batch);
  T* du = train ? dm_.data() : nullptr;
  size_t counted = 0;
  const size_t mlm_den = batch.mlm_denominator ? batch.mlm_denominator : M;
  const double mlm_total =
      M == 0 ? 0.0
             : lm_head_loss<T>(du, train ? g(word_) : nullptr, mh(mlm_losses_), mh(u_), p(word_), batch.mlm_labels, M, C, V,
                               grad_scale / T(mlm_den), &counted, kHeadRowsPerChunk, p(mlm_bias_), train ? g(mlm_bias_) : nullptr,
                               mlm_predictions_.data());
  loss.mlm = mlm_den ? mlm_total / double(mlm_den) : 0.0;
  for (size_t m = 0; m < M; ++m) loss.mlm_correct += mlm_predictions_[m] == batch.mlm_labels[m];

  // NSP on [CLS] (position 0): pooler dense + tanh, then a 2-way classifier.
  std::vector<T> dnsp;
  if (config_.nsp()) {
    T* cls = a(cls_);
    for (size_t b = 0; b < B; ++b) std::copy_n(top + size_t(top_slot_[b * Tn]) * C, C, cls + b * C);
    T* pooled = a(pooled_);
    linear_t_forward(pooled, cls, p(pool_w_), p(pool_b_), B, C, C);
    for (size_t i = 0; i < B * C; ++i) pooled[i] = std::tanh(pooled[i]);
    T* logits = a(nsp_logits_);
    linear_t_forward(logits, pooled, p(nsp_w_), p(nsp_b_), B, C, 2);
    dnsp.assign(B * 2, T(0));
    const size_t nsp_den = batch.nsp_denominator ? batch.nsp_denominator : B;
    double total = 0;
    for (size_t b = 0; b < B; ++b) {
      const uint32_t y = batch.nsp_labels[b];
      if (y > 1) throw Error(fmt::format("next-sentence label {} is not 0 or 1", y));
      const T m = std::max(logits[2 * b], logits[2 * b + 1]);
      const T log_sum = m + std::log(std::exp(logits[2 * b] - m) + std::exp(logits[2 * b + 1] - m));
      total += double(log_sum - logits[2 * b + y]);
      loss.nsp_correct += (logits[2 * b + 1] > logits[2 * b] ? 1u : 0u) == y;
      for (int k = 0; k < 2; ++k)
        dnsp[2 * b + k] = (std::exp(logits[2 * b + k] - log_sum) - T(k == int(y) ? 1 : 0)) * grad_scale / T(nsp_den);
    }
    loss.nsp = total / double(nsp_den);
  }
  if (!train) return loss;

  // Backward. The top layer's output gradient, at its rows (top_rows_): the MLM rows and the [CLS] rows.
  T* dtop = dx_.data();
  std::fill(dtop, dtop + top_rows_.size() * C, T(0));
  {
    T* dt = dtmp_.data();  // [M, C] scratch rows
    T* dt2 = dtmp2_.data();
    layernorm_backward(dt, g(mlm_ln_w_), g(mlm_ln_b_), du, mh(t_gelu_), p(mlm_ln_w_), mh(t_mean_), mh(t_rstd_), M, C);
    gelu_backward(dt2, dt, mh(t_pre_), mh(t_gelu_), M * C, config_.gelu);
    linear_t_backward(dt, g(mlm_w_), g(mlm_b_), dt2, mh(gathered_), p(mlm_w_), M, C, C);
    for (size_t m = 0; m < M; ++m) {
      T* row = dtop + size_t(top_slot_[batch.mlm_rows[m]]) * C;
      for (size_t c = 0; c < C; ++c) row[c] += dt[m * C + c];
    }
  }
  if (config_.nsp()) {
    T* dpooled = dtmp_.data();
    T* dcls = dtmp2_.data();
    linear_t_backward(dpooled, g(nsp_w_), g(nsp_b_), dnsp.data(), a(pooled_), p(nsp_w_), B, C, 2);
    const T* pooled = a(pooled_);
    for (size_t i = 0; i < B * C; ++i) dpooled[i] *= T(1) - pooled[i] * pooled[i];
    linear_t_backward(dcls, g(pool_w_), g(pool_b_), dpooled, a(cls_), p(pool_w_), B, C, C);
    for (size_t b = 0; b < B; ++b)
      for (size_t c = 0; c < C; ++c) dtop[size_t(top_slot_[b * Tn]) * C + c] += dcls[b * C + c];
  }
  backward_layers(batch, dtop);
  return loss;
}

template <class T>
void Bert<T>::backward_layers(const EncoderBatch& batch, T* dout) {
  const size_t B = batch.B, Tn = batch.Tn, N = B * Tn, C = config_.d_model, F = config_.d_ff, NH = config_.n_head;
  const T drop = T(config_.dropout);
  T* d1 = dtmp_.data();
  T* d2 = dtmp2_.data();
  for (size_t l = config_.n_layer; l-- > 0;) {
    const LayerOffsets& w = layers_[l];
    const LayerActs& x = layer_acts_[l];
    const T* in = layer_input(l);
    // The top layer after its attention ran at top_rows_ only, and dout holds their rows.
    const bool top = l + 1 == config_.n_layer;
    const uint32_t* rows = top ? top_rows_.data() : nullptr;
    const size_t R = top ? top_rows_.size() : N;
    // out = LN2(res2): dout -> d res2 (in d1).
    layernorm_backward(d1, g(w.ln2_w), g(w.ln2_b), dout, a(x.res2), p(w.ln2_w), a(x.ln2_mean), a(x.ln2_rstd), R, C);
    // res2 = drop(fgelu Wo2) + h1.
    std::copy_n(d1, R * C, d2);
    dropout_apply_rows(d2, rows, R, C, drop, site_key(l, kFeedForwardOutput));
    linear_t_backward(dfch2_.data(), g(w.o2_w), g(w.o2_b), d2, a(x.fgelu), p(w.o2_w), R, F, C);
    gelu_backward(dfch_.data(), dfch2_.data(), a(x.fpre), a(x.fgelu), R * F, config_.gelu);
    linear_t_backward(d2, g(w.i_w), g(w.i_b), dfch_.data(), a(x.h1), p(w.i_w), R, C, F);
    for (size_t i = 0; i < R * C; ++i) d2[i] += d1[i];  // d h1: through the feed-forward and the residual
    // h1 = LN1(res1): -> d res1 (in d1).
    layernorm_backward(d1, g(w.ln1_w), g(w.ln1_b), d2, a(x.res1), p(w.ln1_w), a(x.ln1_mean), a(x.ln1_rstd), R, C);
    // res1 = drop(att Wo) + in.
    std::copy_n(d1, R * C, d2);
    dropout_apply_rows(d2, rows, R, C, drop, site_key(l, kAttentionOutput));
    if (!top) {
      linear_t_backward(dproj_.data(), g(w.o_w), g(w.o_b), d2, a(x.att), p(w.o_w), N, C, C);
    } else {
      // d att at the top rows (into dfch_, free until the next layer), scattered over zeros: the other
      // rows' attention outputs went nowhere.
      T* datt = dfch_.data();
      linear_t_backward(datt, g(w.o_w), g(w.o_b), d2, a(top_att_), p(w.o_w), R, C, C);
      std::fill(dproj_.begin(), dproj_.begin() + N * C, T(0));
      for (size_t r = 0; r < R; ++r) std::copy_n(datt + r * C, C, dproj_.data() + size_t(rows[r]) * C);
    }
    attention_backward(dqkv_.data(), dproj_.data(), a(x.qkv), a(x.att), a(x.lse), AttentionMask{false, batch.attend}, B,
                       Tn, C, NH, drop, site_key(l, kAttention));
    // dout becomes d in: the residual's d res1 plus the input gradient through Q, K and V.
    linear_t_backward(d2, g(w.q_w), g(w.q_b), dqkv_.data(), in, p(w.q_w), N, C, 3 * C);
    if (!top) {
      for (size_t i = 0; i < N * C; ++i) dout[i] = d1[i] + d2[i];
    } else {
      std::copy_n(d2, N * C, dout);
      for (size_t r = 0; r < R; ++r)
        for (size_t c = 0; c < C; ++c) dout[size_t(rows[r]) * C + c] += d1[r * C + c];
    }
  }
  // Embeddings: dropout, layer norm, then the three tables.
  dropout_apply(dout, N * C, drop, site_key(config_.n_layer, kEmbedding));
  layernorm_backward(d1, g(emb_ln_w_), g(emb_ln_b_), dout, a(emb_), p(emb_ln_w_), a(emb_mean_), a(emb_rstd_), N, C);
  embedding_backward(g(word_), g(pos_) + config_.position_offset * C, d1, batch.ids, N, Tn, C);
  for (size_t n = 0; n < N; ++n) {
    T* t = g(type_) + size_t(batch.segments != nullptr ? batch.segments[n] : 0) * C;
    for (size_t c = 0; c < C; ++c) t[c] += d1[n * C + c];
  }
}

template <class T>
EncoderLoss Bert<T>::forward(const EncoderBatch& batch) {
  return run(batch, false, T(1));
}

template <class T>
EncoderLoss Bert<T>::forward_backward(const EncoderBatch& batch, T grad_scale) {
  return run(batch, true, grad_scale);
}

template class Bert<float>;
template class Bert<double>;

}  // namespace lmpipe::nn
