#pragma once
// CLIP's vision transformer (transformers' CLIPVisionModel), the image encoder LLaVA puts in front of its
// language model, llm.c-style like Gpt and Bert: one parameter buffer, one gradient buffer, activations
// planned per batch, a forward and a backward that read top to bottom. Tensor names and layouts are
// CLIPVisionModel's (linear weights [out, in]). A picture is cut into patches, each patch a linear map of
// its pixels (the patch embedding, a convolution whose stride is its size), a class embedding before
// them and learned positions added; a layer norm (pre_layrnorm), then pre-LN blocks with quick-GELU MLPs.
// What LLaVA reads is one layer's output without the class token: features() runs the layers up to it.
#include <cstdint>
#include <vector>

#include "nn/buffer.h"
#include "nn/model_config.h"
#include "nn/parameters.h"

namespace lmpipe::nn {

template <class T>
class ClipVision {
 public:
  explicit ClipVision(VisionConfig config, ModelBuffers buffers = ModelBuffers::kTraining);

  const VisionConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  Buffer<T>& params() { return params_; }
  const Buffer<T>& params() const { return params_; }
  Buffer<T>& grads() { return grads_; }
  // A part of a bigger model (LLaVA's): parameters and gradients (null: none) in the caller's buffers, at
  // this model's layout, which must outlive it; for a model made with ModelBuffers::kLayout, whose params()
  // and grads() stay empty. param_data() reads them either way.
  void bind(T* params, T* grads) {
    bound_params_ = params;
    bound_grads_ = grads;
  }
  const T* param_data() const { return p(0); }

  // CLIP's initialisation as transformers' CLIPPreTrainedModel does it (initializer_factor 1): the class
  // embedding N(0, d^-1/2), patch and position embeddings N(0, 0.02), q, k, v N(0, d^-1/2 (2L)^-1/2), the
  // attention's output N(0, d^-1/2), fc1 N(0, (2d)^-1/2), fc2 N(0, d^-1/2 (2L)^-1/2), biases 0, layer
  // norms 1 and 0.
  void init(uint64_t seed);
  void zero_grad();

  // The features of I pictures (pixels [I, S, S, 3] bytes, as an images shard stores them): the feature
  // layer's output without the class token, [I * patches, d_model], valid until the next call; with
  // gradients, the activations backward needs are kept (without, two layers' arrays serve them all).
  const T* features(const uint8_t* pixels, size_t I);
  // After features() of the same pictures, on a tower with gradients: adds the gradient of a loss whose
  // derivative by the features is dfeatures [I * patches, d_model] to grads().
  void backward(const T* dfeatures, size_t I);

 private:
  struct LayerOffsets {
    size_t ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  struct LayerActs {
    size_t ln1, ln1_mean, ln1_rstd, qkv, atty, lse, res2, ln2, ln2_mean, ln2_rstd, fch, fch_act, res3;
  };

  void plan(size_t I);
  const T* p(size_t offset) const { return (bound_params_ ? bound_params_ : params_.data()) + offset; }
  T* g(size_t offset) { return (bound_grads_ ? bound_grads_ : grads_.data()) + offset; }
  bool has_grads() const { return bound_grads_ != nullptr || grads_.size() == layout_.total(); }
  T* a(size_t offset) { return acts_.data() + offset; }
  // The input of layer l: the embeddings after pre_layrnorm, or the previous layer's output.
  size_t layer_input(size_t l) const { return l == 0 ? pre_ : layer_acts_[l - 1].res3; }

  VisionConfig config_;
  ParameterLayout layout_;
  size_t class_ = 0, patch_w_ = 0, pos_ = 0, pre_w_ = 0, pre_b_ = 0, post_w_ = 0, post_b_ = 0;
  std::vector<LayerOffsets> layers_;
  Buffer<T> params_, grads_;
  T* bound_params_ = nullptr;  // bind()'s
  T* bound_grads_ = nullptr;

  size_t planned_I_ = 0;
  bool planned_keep_layers_ = false;  // every layer's activations planned (for backward), or two layers' reused
  Buffer<T> acts_;
  size_t patches_ = 0, embedded_ = 0, pre_ = 0, pre_mean_ = 0, pre_rstd_ = 0, features_ = 0;
  std::vector<LayerActs> layer_acts_;
  Buffer<T> dres_, dtmp_, dqkv_, dfch_, dfch2_;
};

extern template class ClipVision<float>;
extern template class ClipVision<double>;

}  // namespace lmpipe::nn
