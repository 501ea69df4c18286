#include "nn/clip_vision.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "nn/layers.h"

namespace lmpipe::nn {

template <class T>
ClipVision<T>::ClipVision(VisionConfig config, ModelBuffers buffers) : config_(std::move(config)) {
  config_.validate();
  const size_t D = config_.d_model, F = config_.d_ff, P = config_.patch_size;
  const std::string e = "vision_model.embeddings.";
  class_ = layout_.add(e + "class_embedding", {D}, false);
  patch_w_ = layout_.add(e + "patch_embedding.weight", {D, 3, P, P}, true);
  pos_ = layout_.add(e + "position_embedding.weight", {config_.positions(), D}, false);
  pre_w_ = layout_.add("vision_model.pre_layrnorm.weight", {D}, false);
  pre_b_ = layout_.add("vision_model.pre_layrnorm.bias", {D}, false);
  for (size_t l = 0; l < config_.n_layer; ++l) {
    const std::string h = "vision_model.encoder.layers." + std::to_string(l) + ".";
    LayerOffsets o{};
    o.ln1_w = layout_.add(h + "layer_norm1.weight", {D}, false);
    o.ln1_b = layout_.add(h + "layer_norm1.bias", {D}, false);
    // q, k and v one after the other: together the [3D, D] weight of one product.
    o.qkv_w = layout_.add(h + "self_attn.q_proj.weight", {D, D}, true);
    layout_.add(h + "self_attn.k_proj.weight", {D, D}, true);
    layout_.add(h + "self_attn.v_proj.weight", {D, D}, true);
    o.qkv_b = layout_.add(h + "self_attn.q_proj.bias", {D}, false);
    layout_.add(h + "self_attn.k_proj.bias", {D}, false);
    layout_.add(h + "self_attn.v_proj.bias", {D}, false);
    o.out_w = layout_.add(h + "self_attn.out_proj.weight", {D, D}, true);
    o.out_b = layout_.add(h + "self_attn.out_proj.bias", {D}, false);
    o.ln2_w = layout_.add(h + "layer_norm2.weight", {D}, false);
    o.ln2_b = layout_.add(h + "layer_norm2.bias", {D}, false);
    o.fc1_w = layout_.add(h + "mlp.fc1.weight", {F, D}, true);
    o.fc1_b = layout_.add(h + "mlp.fc1.bias", {F}, false);
    o.fc2_w = layout_.add(h + "mlp.fc2.weight", {D, F}, true);
    o.fc2_b = layout_.add(h + "mlp.fc2.bias", {D}, false);
    layers_.push_back(o);
  }
  // Not on LLaVA's path (it reads a layer's output, not the pooled class token), but CLIPVisionModel has it.
  post_w_ = layout_.add("vision_model.post_layernorm.weight", {D}, false);
  post_b_ = layout_.add("vision_model.post_layernorm.bias", {D}, false);
  if (buffers != ModelBuffers::kLayout) params_.assign(layout_.total(), T(0));
  if (buffers == ModelBuffers::kTraining) grads_.assign(layout_.total(), T(0));
}

template <class T>
void ClipVision<T>::init(uint64_t seed) {
  if (params_.size() != layout_.total() && bound_params_ == nullptr)
    throw Error("ClipVision::init on a model without parameters of its own");
  T* params = bound_params_ ? bound_params_ : params_.data();
  Rng rng(seed, {0x636c69705f76697aULL});  // "clip_viz"
  const double D = double(config_.d_model), L = double(config_.n_layer);
  const double in_std = std::pow(D, -0.5) * std::pow(2 * L, -0.5);
  for (const TensorInfo& t : layout_.tensors()) {
    T* data = params + t.offset;
    double std = 0;
    if (t.name.ends_with("class_embedding")) std = std::pow(D, -0.5);
    else if (t.name.find("_embedding.weight") != std::string::npos) std = 0.02;
    else if (t.name.ends_with("q_proj.weight") || t.name.ends_with("k_proj.weight") || t.name.ends_with("v_proj.weight"))
      std = in_std;
    else if (t.name.ends_with("out_proj.weight")) std = std::pow(D, -0.5);
    else if (t.name.ends_with("fc1.weight")) std = std::pow(2 * D, -0.5);
    else if (t.name.ends_with("fc2.weight")) std = in_std;
    const bool norm_weight = t.name.ends_with("norm.weight") || t.name.ends_with("norm1.weight") ||
                             t.name.ends_with("norm2.weight") || t.name.ends_with("layrnorm.weight");
    if (std > 0)
      for (size_t i = 0; i < t.size; ++i) data[i] = T(rng.normal() * std);
    else
      std::fill(data, data + t.size, norm_weight ? T(1) : T(0));
  }
}

template <class T>
void ClipVision<T>::zero_grad() {
  if (has_grads()) std::fill_n(g(0), layout_.total(), T(0));
}

template <class T>
void ClipVision<T>::plan(size_t I) {
  // backward() reads every layer's activations; features() alone needs two layers' at a time, so a tower
  // without gradients (a frozen one, or sampling's) reuses two layers' arrays for all of them.
  const bool keep_layers = has_grads();
  if (I == planned_I_ && keep_layers == planned_keep_layers_) return;
  const size_t Np = config_.patches(), N = I * config_.positions(), D = config_.d_model, F = config_.d_ff;
  const size_t K = 3 * config_.patch_size * config_.patch_size;
  BufferPlan arrays;
  patches_ = arrays.take(I * Np * K);
  embedded_ = arrays.take(N * D);
  pre_ = arrays.take(N * D);
  pre_mean_ = arrays.take(N);
  pre_rstd_ = arrays.take(N);
  layer_acts_.assign(config_.layers_run(), LayerActs{});
  for (size_t l = 0; l < layer_acts_.size(); ++l) {
    LayerActs& la = layer_acts_[l];
    if (!keep_layers && l >= 2) {  // layer l - 2's arrays: its output was layer l - 1's input, now read
      la = layer_acts_[l - 2];
      continue;
    }
    la.ln1 = arrays.take(N * D);
    la.ln1_mean = arrays.take(N);
    la.ln1_rstd = arrays.take(N);
    la.qkv = arrays.take(N * 3 * D);
    la.atty = arrays.take(N * D);
    la.lse = arrays.take(I * config_.n_head * config_.positions());
    la.res2 = arrays.take(N * D);
    la.ln2 = arrays.take(N * D);
    la.ln2_mean = arrays.take(N);
    la.ln2_rstd = arrays.take(N);
    la.fch = arrays.take(N * F);
    la.fch_act = arrays.take(N * F);
    la.res3 = arrays.take(N * D);
  }
  features_ = arrays.take(I * Np * D);
  acts_.assign(arrays.total(), T(0));
  const auto gradient_scratch = [&](Buffer<T>& b, size_t n) {
    if (keep_layers)
      b.assign(n, T(0));
    else
      Buffer<T>().swap(b);  // no backward to plan for
  };
  gradient_scratch(dres_, N * D);
  gradient_scratch(dtmp_, std::max(2 * N * D, I * Np * D));
  gradient_scratch(dqkv_, 3 * N * D);
  gradient_scratch(dfch_, N * F);
  gradient_scratch(dfch2_, N * F);
  planned_I_ = I;
  planned_keep_layers_ = keep_layers;
}

template <class T>
const T* ClipVision<T>::features(const uint8_t* pixels, size_t I) {
  plan(I);
  const size_t S = config_.image_size, P = config_.patch_size, G = config_.grid(), Np = config_.patches();
  const size_t Tn = config_.positions(), N = I * Tn, D = config_.d_model, F = config_.d_ff, K = 3 * P * P;
  const T eps = T(config_.ln_eps);
  // Each patch's pixels in the convolution weight's order (channel, row, column), normalised as CLIP's
  // image processor does: rescaled to 0..1 (in double, then float, as numpy does it), less the mean, over
  // the deviation.
  T* patches = a(patches_);
#pragma omp parallel for schedule(static)
  for (size_t ip = 0; ip < I * Np; ++ip) {
    const size_t i = ip / Np, gy = ip % Np / G, gx = ip % G;
    T* out = patches + ip * K;
    for (size_t c = 0; c < 3; ++c)
      for (size_t y = 0; y < P; ++y)
        for (size_t x = 0; x < P; ++x) {
          const uint8_t v = pixels[((i * S + gy * P + y) * S + gx * P + x) * 3 + c];
          const auto unit = T(float(double(v) * (1.0 / 255.0)));
          *out++ = (unit - T(config_.mean[c])) / T(config_.std[c]);
        }
  }
  // Row 0 of each picture the class embedding, rows 1.. its patches; positions added to all.
  T* x = a(embedded_);
  for (size_t i = 0; i < I; ++i) {
    T* rows = x + i * Tn * D;
    std::copy(p(class_), p(class_) + D, rows);
    linear_t_forward<T>(rows + D, patches + i * Np * K, p(patch_w_), nullptr, Np, K, D);
    for (size_t k = 0; k < Tn * D; ++k) rows[k] += p(pos_)[k];
  }
  layernorm_forward(a(pre_), a(pre_mean_), a(pre_rstd_), x, p(pre_w_), p(pre_b_), N, D, eps);
  const AttentionMask everything{};  // every position sees every other
  for (size_t l = 0; l < layer_acts_.size(); ++l) {
    const LayerOffsets& w = layers_[l];
    const LayerActs& la = layer_acts_[l];
    const T* in = a(layer_input(l));
    layernorm_forward(a(la.ln1), a(la.ln1_mean), a(la.ln1_rstd), in, p(w.ln1_w), p(w.ln1_b), N, D, eps);
    linear_t_forward(a(la.qkv), a(la.ln1), p(w.qkv_w), p(w.qkv_b), N, D, 3 * D);
    attention_forward(a(la.atty), a(la.lse), a(la.qkv), everything, I, Tn, D, config_.n_head);
    T* res2 = a(la.res2);
    linear_t_forward(res2, a(la.atty), p(w.out_w), p(w.out_b), N, D, D);
    for (size_t k = 0; k < N * D; ++k) res2[k] += in[k];
    layernorm_forward(a(la.ln2), a(la.ln2_mean), a(la.ln2_rstd), res2, p(w.ln2_w), p(w.ln2_b), N, D, eps);
    linear_t_forward(a(la.fch), a(la.ln2), p(w.fc1_w), p(w.fc1_b), N, D, F);
    gelu_forward(a(la.fch_act), a(la.fch), N * F, Gelu::kQuick);
    T* res3 = a(la.res3);
    linear_t_forward(res3, a(la.fch_act), p(w.fc2_w), p(w.fc2_b), N, F, D);
    for (size_t k = 0; k < N * D; ++k) res3[k] += res2[k];
  }
  // The feature layer's output without the class token (LLaVA's "default" selection).
  const T* hidden = a(layer_input(layer_acts_.size()));
  T* features = a(features_);
  for (size_t i = 0; i < I; ++i) std::copy_n(hidden + (i * Tn + 1) * D, Np * D, features + i * Np * D);
  return features;
}

template <class T>
void ClipVision<T>::backward(const T* dfeatures, size_t I) {
  if (!has_grads()) throw Error("ClipVision::backward on a model made without gradients");
  if (I != planned_I_ || !planned_keep_layers_)
    throw Error("ClipVision::backward without features() of the same pictures before");
  const size_t P = config_.patch_size, Np = config_.patches(), Tn = config_.positions(), N = I * Tn;
  const size_t D = config_.d_model, F = config_.d_ff, K = 3 * P * P;
  T* dres = dres_.data();
  T* d1 = dtmp_.data();
  T* d2 = dtmp_.data() + N * D;
  // The class token's rows get no gradient from the features.
  std::fill(dres, dres + N * D, T(0));
  for (size_t i = 0; i < I; ++i) std::copy_n(dfeatures + i * Np * D, Np * D, dres + (i * Tn + 1) * D);
  const AttentionMask everything{};
  for (size_t l = layer_acts_.size(); l-- > 0;) {
    const LayerOffsets& w = layers_[l];
    const LayerActs& la = layer_acts_[l];
    // res3 = res2 + fc2(quick_gelu(fc1(ln2(res2)))): dres is d res3.
    linear_t_backward(dfch2_.data(), g(w.fc2_w), g(w.fc2_b), dres, a(la.fch_act), p(w.fc2_w), N, F, D);
    gelu_backward(dfch_.data(), dfch2_.data(), a(la.fch), a(la.fch_act), N * F, Gelu::kQuick);
    linear_t_backward(d1, g(w.fc1_w), g(w.fc1_b), dfch_.data(), a(la.ln2), p(w.fc1_w), N, D, F);
    layernorm_backward(d2, g(w.ln2_w), g(w.ln2_b), d1, a(la.res2), p(w.ln2_w), a(la.ln2_mean), a(la.ln2_rstd), N, D);
    for (size_t k = 0; k < N * D; ++k) dres[k] += d2[k];  // d res2
    // res2 = in + out_proj(attention(qkv(ln1(in)))).
    linear_t_backward(d1, g(w.out_w), g(w.out_b), dres, a(la.atty), p(w.out_w), N, D, D);
    attention_backward(dqkv_.data(), d1, a(la.qkv), a(la.atty), a(la.lse), everything, I, Tn, D, config_.n_head);
    linear_t_backward(d1, g(w.qkv_w), g(w.qkv_b), dqkv_.data(), a(la.ln1), p(w.qkv_w), N, D, 3 * D);
    layernorm_backward(d2, g(w.ln1_w), g(w.ln1_b), d1, a(layer_input(l)), p(w.ln1_w), a(la.ln1_mean),
                       a(la.ln1_rstd), N, D);
    for (size_t k = 0; k < N * D; ++k) dres[k] += d2[k];  // d in
  }
  // pre_layrnorm, then the embeddings: the class embedding and positions summed over the pictures, the
  // patch weight from each picture's patches.
  layernorm_backward(d1, g(pre_w_), g(pre_b_), dres, a(embedded_), p(pre_w_), a(pre_mean_), a(pre_rstd_), N, D);
  for (size_t i = 0; i < I; ++i) {
    const T* rows = d1 + i * Tn * D;
    for (size_t k = 0; k < D; ++k) g(class_)[k] += rows[k];
    for (size_t k = 0; k < Tn * D; ++k) g(pos_)[k] += rows[k];
    linear_t_backward<T>(nullptr, g(patch_w_), nullptr, rows + D, a(patches_) + i * Np * K, p(patch_w_), Np, K, D);
  }
}

template class ClipVision<float>;
template class ClipVision<double>;

}  // namespace lmpipe::nn
