#pragma once
// Incremental decoding with a trained Gpt: each layer's keys and values are kept in a cache, so a new
// token costs one pass over the weights (matrix-vector products) instead of recomputing the prefix.
// The same layer functions as training, on R new rows at a time: a prompt in one pass, then a token per
// call. Logits equal those of Gpt::last_logits on the whole sequence (tested).
#include <cstdint>
#include <string>

#include "nn/buffer.h"
#include "nn/gpt.h"

namespace lmpipe::nn {

template <class T>
class GptDecoder {
 public:
  // The model's weights are read in place: the model must outlive the decoder and not change.
  explicit GptDecoder(const Gpt<T>& model);

  size_t position() const { return position_; }  // tokens in the cache
  size_t capacity() const { return config_.max_len; }
  size_t vocab_size() const { return config_.vocab_size; }
  void reset() { position_ = 0; }
  // Positions of the sequence whose input embedding is given instead of looked up (a picture's, where its
  // placeholder ids are, as Gpt::set_input_embeddings): embeds[R, d_model] at positions[r], the position
  // embedding added as to every row, whenever append() runs those positions. The pointers must stay valid
  // until it is cleared (R = 0).
  void set_input_embeddings(const T* embeds, const uint32_t* positions, size_t R) {
    injected_ = embeds;
    injected_positions_ = positions;
    injected_count_ = R;
  }
  bool has_input_embeddings() const { return injected_count_ > 0; }
  // Runs tokens[0, n) at positions position() .. position() + n - 1 (n >= 1, within capacity()) and
  // writes the logits that follow the last of them to logits[vocab_size].
  void append(const uint32_t* tokens, size_t n, T* logits);

 private:
  struct LayerWeights {
    const T *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
  };
  const T* tensor(const Gpt<T>& model, const std::string& name) const;
  void reserve_rows(size_t R);

  GptConfig config_;
  const T* wte_ = nullptr;
  const T* wpe_ = nullptr;
  const T* lnf_w_ = nullptr;
  const T* lnf_b_ = nullptr;
  std::vector<LayerWeights> layers_;
  // Keys and values of every position so far, per layer: [n_layer][max_len, d_model] each.
  Buffer<T> keys_, values_;
  size_t position_ = 0;
  const T* injected_ = nullptr;
  const uint32_t* injected_positions_ = nullptr;
  size_t injected_count_ = 0;
  // Activations of the rows being appended (sized for the largest R seen).
  size_t rows_ = 0;
  Buffer<T> x_, h_, qkv_, atty_, fch_, fch_gelu_, mean_, rstd_;
};

extern template class GptDecoder<float>;
extern template class GptDecoder<double>;

}  // namespace lmpipe::nn
