#pragma once
// A BERT or RoBERTa encoder with its pretraining heads, llm.c-style like Gpt: one parameter buffer, one
// gradient buffer, activations planned per batch shape, a forward and a backward that read top to bottom.
// Tensor names and layouts are HuggingFace's BertForPreTraining (RobertaForMaskedLM for RoBERTa), linear
// weights [out, in] as nn.Linear stores them. The MLM head runs only at the masked positions, as
// google-research/bert's does, and so does the top layer after its attention (with [CLS] for NSP): no
// other row of it reaches a loss, so the losses and gradients are those of the whole layer.
#include <cstdint>
#include <vector>

#include "nn/buffer.h"
#include "nn/model_config.h"
#include "nn/parameters.h"

namespace lmpipe::nn {

// One batch: B sequences of Tn positions, flattened to N = B * Tn rows.
struct EncoderBatch {
  const uint32_t* ids = nullptr;         // [N]
  const uint32_t* segments = nullptr;    // [N] token types, or nullptr for all 0
  const uint8_t* attend = nullptr;       // [N] 1: a real token, 0: padding; or nullptr for no padding
  const uint32_t* mlm_rows = nullptr;    // [M] rows b * Tn + t of the masked positions
  const uint32_t* mlm_labels = nullptr;  // [M] their original ids
  size_t M = 0;
  const uint32_t* nsp_labels = nullptr;  // [B] 0: B follows A, 1: B is random (BERT only)
  size_t B = 0, Tn = 0;
  // What the losses are means over (0: M and B). A micro-batch of an accumulated step gives the whole
  // step's counts, so that the summed gradients are those of one big batch.
  size_t mlm_denominator = 0, nsp_denominator = 0;
};

struct EncoderLoss {
  double mlm = 0;  // cross-entropy summed over the masked positions, over the MLM denominator
  double nsp = 0;  // cross-entropy summed over the sequences, over the NSP denominator (BERT)
  size_t mlm_correct = 0, nsp_correct = 0;  // predictions equal to the label (for accuracy)
  double total() const { return mlm + nsp; }
};

template <class T>
class Bert {
 public:
  explicit Bert(BertConfig config, ModelBuffers buffers = ModelBuffers::kTraining);

  const BertConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  Buffer<T>& params() { return params_; }
  const Buffer<T>& params() const { return params_; }
  Buffer<T>& grads() { return grads_; }

  // HuggingFace's initialisation: weights and embeddings N(0, 0.02), biases 0, layer norms 1 and 0.
  void init(uint64_t seed);
  void zero_grad();
  void set_dropout_key(uint64_t key) { dropout_key_ = key; }

  // The losses without dropout or gradients.
  EncoderLoss forward(const EncoderBatch& batch);
  // With dropout; adds grad_scale times the gradient of mlm + nsp to grads().
  EncoderLoss forward_backward(const EncoderBatch& batch, T grad_scale = T(1));
  // The MLM head's logits over the vocabulary at the batch's masked rows (fill-mask): out[M, V]. Labels
  // and NSP labels are not read.
  void mlm_logits(const EncoderBatch& batch, T* out);

 private:
  struct LayerOffsets {
    size_t q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, o2_w, o2_b, ln2_w, ln2_b;
  };
  struct LayerActs {
    size_t qkv, att, lse, res1, ln1_mean, ln1_rstd, h1, fpre, fgelu, res2, ln2_mean, ln2_rstd, out;
  };

  void plan(size_t B, size_t Tn, size_t M);
  void plan_encoder(size_t B, size_t Tn);
  void plan_mlm_head(size_t M, size_t B);
  EncoderLoss run(const EncoderBatch& batch, bool train, T grad_scale);
  // The rows that leave the top layer (masked positions and [CLS]) into top_rows_, ascending, and each
  // one's place there into top_slot_[row].
  void select_top_rows(const EncoderBatch& batch);
  void forward_layers(const EncoderBatch& batch, bool train);
  // Layer l after its attention, on R rows: att[R, C] is the attention output of rows rows[r] (nullptr:
  // all rows in order), whose layer input is read for the residual.
  void after_attention_forward(size_t l, const T* att, const uint32_t* rows, size_t R, T drop);
  // The MLM transform (dense, GELU, layer norm) of the top layer's masked rows, into u_.
  void mlm_transform(const EncoderBatch& batch);
  void backward_layers(const EncoderBatch& batch, T* dout);
  const T* layer_input(size_t layer) const;
  // Where dropout draws its mask: each site of each layer has its own stream.
  enum DropoutSite { kAttention = 0, kAttentionOutput = 1, kFeedForwardOutput = 2, kEmbedding = 3 };
  uint64_t site_key(size_t layer, int site) const;
  T* p(size_t offset) { return params_.data() + offset; }
  T* g(size_t offset) { return grads_.data() + offset; }
  T* a(size_t offset) { return acts_.data() + offset; }
  T* mh(size_t offset) { return head_acts_.data() + offset; }

  BertConfig config_;
  ParameterLayout layout_;
  size_t word_ = 0, pos_ = 0, type_ = 0, emb_ln_w_ = 0, emb_ln_b_ = 0;
  std::vector<LayerOffsets> layers_;
  size_t pool_w_ = 0, pool_b_ = 0, nsp_w_ = 0, nsp_b_ = 0;                      // BERT
  size_t mlm_w_ = 0, mlm_b_ = 0, mlm_ln_w_ = 0, mlm_ln_b_ = 0, mlm_bias_ = 0;  // transform, decoder bias
  Buffer<T> params_, grads_;

  size_t planned_B_ = 0, planned_T_ = 0, planned_M_ = 0;  // planned_M_: masked rows the plan has room for
  Buffer<T> acts_;
  size_t emb_ = 0, emb_mean_ = 0, emb_rstd_ = 0, x0_ = 0;
  std::vector<LayerActs> layer_acts_;
  Buffer<T> head_acts_;  // the MLM head's, sized by the masked rows
  size_t gathered_ = 0, t_pre_ = 0, t_gelu_ = 0, t_mean_ = 0, t_rstd_ = 0, u_ = 0, mlm_losses_ = 0;
  std::vector<uint32_t> mlm_predictions_;
  size_t cls_ = 0, pooled_ = 0, nsp_logits_ = 0;
  // The top layer runs after its attention at the rows the heads read only; its activations after the
  // attention (res1 ... out) hold those rows, in the order of top_rows_, and top_att_ their attention output.
  size_t top_att_ = 0;
  std::vector<uint32_t> top_rows_, top_slot_;
  // Backward scratch.
  Buffer<T> dx_, dtmp_, dtmp2_, dqkv_, dproj_, dfch_, dfch2_, dm_;
  uint64_t dropout_key_ = 0;
};

extern template class Bert<float>;
extern template class Bert<double>;

}  // namespace lmpipe::nn
