#include "nn/llava.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "nn/layers.h"

namespace lmpipe::nn {

namespace {

// The projector's tensors, from offset 0 of its slice.
ParameterLayout projector_tensors(const LlavaConfig& c) {
  ParameterLayout layout;
  const size_t Dv = c.vision.d_model, Dt = c.text.d_model;
  layout.add("multi_modal_projector.linear_1.weight", {Dt, Dv}, true);
  layout.add("multi_modal_projector.linear_1.bias", {Dt}, false);
  if (c.projector == Projector::kMlp2x) {
    layout.add("multi_modal_projector.linear_2.weight", {Dt, Dt}, true);
    layout.add("multi_modal_projector.linear_2.bias", {Dt}, false);
  }
  return layout;
}

}  // namespace

ParameterLayout llava_layout(const LlavaConfig& config, Frozen frozen) {
  ParameterLayout layout;
  const auto append = [&](const ParameterLayout& part, const std::string& prefix) {
    for (const TensorInfo& t : part.tensors()) layout.add(prefix + t.name, t.shape, t.decay);
  };
  append(ClipVision<float>(config.vision, ModelBuffers::kLayout).layout(), "vision_tower.");
  append(projector_tensors(config), "");
  append(Gpt<float>(config.text, ModelBuffers::kLayout).layout(), "language_model.");
  if (frozen.vision) layout.set_frozen("vision_tower.");
  if (frozen.language) layout.set_frozen("language_model.");
  return layout;
}

template <class T>
Llava<T>::Llava(LlavaConfig config, ModelBuffers buffers, Frozen frozen)
    : config_(std::move(config)),
      frozen_(frozen),
      vision_(config_.vision, ModelBuffers::kLayout),
      language_(config_.text, ModelBuffers::kLayout),
      projector_layout_(projector_tensors(config_)),
      layout_(llava_layout(config_, frozen_)) {
  config_.validate();
  projector_at_ = vision_.layout().total();
  language_at_ = projector_at_ + projector_layout_.total();
  const auto offset = [&](const char* name) {
    const TensorInfo* t = projector_layout_.find(name);
    return t ? t->offset : 0;
  };
  w1_ = offset("multi_modal_projector.linear_1.weight");
  b1_ = offset("multi_modal_projector.linear_1.bias");
  w2_ = offset("multi_modal_projector.linear_2.weight");
  b2_ = offset("multi_modal_projector.linear_2.bias");
  if (buffers == ModelBuffers::kLayout) return;
  params_.assign(layout_.total(), T(0));
  T *vision_grads = nullptr, *language_grads = nullptr;
  if (buffers == ModelBuffers::kTraining) {
    const auto [begin, end] = layout_.trained_range();
    grads_.assign(end - begin, T(0));
    if (!frozen_.vision) vision_grads = grads_.data();
    if (frozen_.language) language_scratch_.assign(layout_.total() - language_at_, T(0));
    language_grads = frozen_.language ? language_scratch_.data() : grads_.data() + (language_at_ - begin);
  }
  vision_.bind(params_.data(), vision_grads);
  language_.bind(params_.data() + language_at_, language_grads);
}

template <class T>
void Llava<T>::init(uint64_t seed) {
  vision_.init(seed);
  language_.init(seed + 1);
  Rng rng(seed, {0x6c6c6176615f7072ULL});  // "llava_pr"
  for (const TensorInfo& t : projector_layout_.tensors()) {
    T* data = params_.data() + projector_at_ + t.offset;
    const bool weight = t.name.ends_with(".weight");
    for (size_t i = 0; i < t.size; ++i) data[i] = weight ? T(rng.normal() * 0.02) : T(0);
  }
}

template <class T>
void Llava<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <class T>
void Llava<T>::embed_pictures(const uint8_t* pixels, size_t I, const uint32_t* inputs, size_t N) {
  const size_t R = I * config_.vision.patches();
  rows_.clear();
  for (size_t n = 0; n < N; ++n)
    if (inputs[n] == config_.image_token) rows_.push_back(uint32_t(n));
  if (rows_.size() != R)
    throw Error(fmt::format("{} image placeholders in the batch, but its {} pictures have {} patches", rows_.size(), I,
                            R));
  features_ = R ? vision_.features(pixels, I) : nullptr;
  project(R);
}

template <class T>
void Llava<T>::project(size_t R) {
  const size_t Dv = config_.vision.d_model, Dt = config_.text.d_model;
  hidden_.resize(R * Dt);
  embeds_.resize(R * Dt);
  const T* w = params_.data() + projector_at_;
  if (config_.projector == Projector::kMlp2x) {
    hidden_act_.resize(R * Dt);
    linear_t_forward(hidden_.data(), features_, w + w1_, w + b1_, R, Dv, Dt);
    gelu_forward(hidden_act_.data(), hidden_.data(), R * Dt, Gelu::kErf);  // transformers' "gelu"
    linear_t_forward(embeds_.data(), hidden_act_.data(), w + w2_, w + b2_, R, Dt, Dt);
  } else {
    linear_t_forward(embeds_.data(), features_, w + w1_, w + b1_, R, Dv, Dt);
  }
}

template <class T>
const T* Llava<T>::picture_embeddings(const uint8_t* pixels, size_t I) {
  if (I == 0) return nullptr;
  features_ = vision_.features(pixels, I);
  project(I * config_.vision.patches());
  return embeds_.data();
}

template <class T>
double Llava<T>::forward(const uint8_t* pixels, size_t I, const uint32_t* inputs, const uint32_t* targets, size_t B,
                         size_t Tn) {
  embed_pictures(pixels, I, inputs, B * Tn);
  language_.set_input_embeddings(embeds_.data(), nullptr, rows_.data(), rows_.size());
  const double loss = language_.forward(inputs, targets, B, Tn);
  language_.clear_input_embeddings();
  return loss;
}

template <class T>
double Llava<T>::forward_backward(const uint8_t* pixels, size_t I, const uint32_t* inputs, const uint32_t* targets,
                                  size_t B, size_t Tn, T grad_scale) {
  if (grads_.empty()) throw Error("Llava::forward_backward on a model made without gradients");
  embed_pictures(pixels, I, inputs, B * Tn);
  const size_t R = rows_.size(), Dv = config_.vision.d_model, Dt = config_.text.d_model;
  dembeds_.assign(R * Dt, T(0));
  language_.set_input_embeddings(embeds_.data(), dembeds_.data(), rows_.data(), R);
  // A frozen decoder still carries the gradient to the pictures' embeddings; its own is computed on the way
  // (the products that give it are the ones that pass the gradient on), into scratch.
  const double loss = language_.forward_backward(inputs, targets, B, Tn, grad_scale);
  language_.clear_input_embeddings();
  if (R == 0) return loss;
  const T* w = params_.data() + projector_at_;
  T* gw = grads_.data() + (projector_at_ - grads_offset());
  // The features' gradient only when the vision tower trains.
  dfeatures_.resize(frozen_.vision ? 0 : R * Dv);
  T* dfeatures = frozen_.vision ? nullptr : dfeatures_.data();
  if (config_.projector == Projector::kMlp2x) {
    dhidden_act_.resize(R * Dt);
    dhidden_.resize(R * Dt);
    linear_t_backward(dhidden_act_.data(), gw + w2_, gw + b2_, dembeds_.data(), hidden_act_.data(), w + w2_, R, Dt,
                      Dt);
    gelu_backward(dhidden_.data(), dhidden_act_.data(), hidden_.data(), hidden_act_.data(), R * Dt, Gelu::kErf);
    linear_t_backward(dfeatures, gw + w1_, gw + b1_, dhidden_.data(), features_, w + w1_, R, Dv, Dt);
  } else {
    linear_t_backward(dfeatures, gw + w1_, gw + b1_, dembeds_.data(), features_, w + w1_, R, Dv, Dt);
  }
  if (!frozen_.vision) vision_.backward(dfeatures, I);
  return loss;
}

template class Llava<float>;
template class Llava<double>;

}  // namespace lmpipe::nn
