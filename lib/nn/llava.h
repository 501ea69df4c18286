#pragma once
// LLaVA (Liu et al. 2023, 2310.03744 for 1.5): a CLIP vision tower, a projector that maps its patch
// features into the decoder's width, and a GPT decoder that reads them where a picture's placeholder ids
// are. transformers' LlavaForConditionalGeneration in names and arithmetic: vision_tower.* (CLIPVisionModel),
// multi_modal_projector.linear_1/linear_2 with a GELU between (LLaVA-1.5's mlp2x; LLaVA-1's one linear map
// has no transformers class), language_model.* (GPT2LMHeadModel). The parts' parameters and gradients live
// in one buffer each, in llava_layout's order, which a checkpoint and an optimizer take whole.
#include <cstdint>
#include <vector>

#include "nn/buffer.h"
#include "nn/clip_vision.h"
#include "nn/gpt.h"
#include "nn/model_config.h"
#include "nn/parameters.h"

namespace lmpipe::nn {

// Which parts take no gradient: LLaVA's first stage trains the projector alone (vision and language
// frozen), its second the projector and the decoder (vision frozen).
struct Frozen {
  bool vision = false, language = false;
};

// The tensors of a LLaVA checkpoint in one buffer, in LlavaForConditionalGeneration's names: the vision
// tower's (vision_tower.*), the projector's, the decoder's (language_model.*), in that order; the frozen
// parts' tensors marked frozen.
ParameterLayout llava_layout(const LlavaConfig& config, Frozen frozen = {});

template <class T>
class Llava {
 public:
  // With ModelBuffers::kTraining, gradients for the parts that train alone: a frozen vision tower has none
  // (none allocated, reduced between ranks or read by the clipping), and a frozen decoder's, which its
  // backward computes on the way to the projector's, go to scratch of their own.
  explicit Llava(LlavaConfig config, ModelBuffers buffers = ModelBuffers::kTraining, Frozen frozen = {});
  Llava(const Llava&) = delete;  // the parts point into its buffers
  Llava& operator=(const Llava&) = delete;

  const LlavaConfig& config() const { return config_; }
  // The checkpoint's tensors, the frozen parts' marked.
  const ParameterLayout& layout() const { return layout_; }
  Buffer<T>& params() { return params_; }
  // The gradients of the layout's trained_range(): grads()[i] is params()[grads_offset() + i]'s.
  Buffer<T>& grads() { return grads_; }
  size_t grads_offset() const { return layout_.trained_range().first; }
  // The parts, reading and writing their slices of params() and grads().
  ClipVision<T>& vision() { return vision_; }
  Gpt<T>& language() { return language_; }
  // The projector's tensors, and where its slice begins.
  const ParameterLayout& projector_layout() const { return projector_layout_; }
  size_t projector_offset() const { return projector_at_; }
  size_t language_offset() const { return language_at_; }

  // The projector as transformers' LlavaPreTrainedModel initialises it (weights N(0, 0.02), biases 0);
  // the vision tower and the decoder as their own init() do them.
  void init(uint64_t seed);
  void zero_grad();

  // Mean cross-entropy of the targets of B sequences of Tn input ids, whose placeholder ids are, in order,
  // the patches of the I pictures (pixels [I, S, S, 3]): each picture's vision.patches() placeholders in a
  // row. Throws Error when the placeholders do not add up to the pictures' patches.
  double forward(const uint8_t* pixels, size_t I, const uint32_t* inputs, const uint32_t* targets, size_t B,
                 size_t Tn);
  // The same, adding grad_scale times its gradient to the grads of the parts not frozen (the gradient
  // still passes through a frozen decoder to the projector).
  double forward_backward(const uint8_t* pixels, size_t I, const uint32_t* inputs, const uint32_t* targets, size_t B,
                          size_t Tn, T grad_scale = T(1));
  // The projector's output of the last forward pass: [I * patches, text d_model].
  const T* image_embeddings() const { return embeds_.data(); }
  // The I pictures' embeddings in the decoder's width (vision tower and projector, no gradients):
  // [I * patches, text d_model], valid until the next call (generation puts them where the placeholders are).
  const T* picture_embeddings(const uint8_t* pixels, size_t I);

 private:
  // The picture's features through the projector into embeds_, and the rows of inputs they go to.
  void embed_pictures(const uint8_t* pixels, size_t I, const uint32_t* inputs, size_t N);
  // features_ [R, vision width] through the projector into embeds_.
  void project(size_t R);

  LlavaConfig config_;
  Frozen frozen_;
  ClipVision<T> vision_;
  Gpt<T> language_;
  ParameterLayout projector_layout_, layout_;
  size_t projector_at_ = 0, language_at_ = 0;  // where the parts' slices begin (the vision tower's at 0)
  size_t w1_ = 0, b1_ = 0, w2_ = 0, b2_ = 0;    // in the projector's slice
  Buffer<T> params_, grads_;
  Buffer<T> language_scratch_;  // a frozen decoder's gradients, which nothing reads
  // Activations: the features (the vision tower's), the projector's hidden layer before and after its
  // GELU, its output; and their gradients.
  const T* features_ = nullptr;
  Buffer<T> hidden_, hidden_act_, embeds_, dembeds_, dhidden_act_, dhidden_, dfeatures_;
  std::vector<uint32_t> rows_;
};

extern template class Llava<float>;
extern template class Llava<double>;

}  // namespace lmpipe::nn
