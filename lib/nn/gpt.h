#pragma once
// A decoder-only transformer (GPT-2 and GPT-3 layout, or the original GPT's), llm.c-style: parameters,
// gradients and activations in a few contiguous buffers, a forward and a backward that read top to
// bottom. Tensor names and layouts are HuggingFace's GPT2LMHeadModel (OpenAIGPTLMHeadModel for GPT).
#include <cstdint>
#include <memory>
#include <vector>

#include "nn/buffer.h"
#include "nn/model_config.h"
#include "nn/parameters.h"

namespace lmpipe::nn {

template <class T>
class Gpt {
 public:
  explicit Gpt(GptConfig config, ModelBuffers buffers = ModelBuffers::kTraining);
  // A replica for data parallelism between threads (GptReplicas): gradients (unless the owner has none: a
  // frozen model) and activations of its own, owner's parameters read in place (owner must outlive it; its
  // parameter buffer may be reassigned).
  static std::unique_ptr<Gpt> replica_of(const Gpt& owner);

  const GptConfig& config() const { return config_; }
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

  // GPT-2's initialisation as HuggingFace and nanoGPT do it: weights and embeddings N(0, 0.02), the
  // residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02 / sqrt(2 * n_layer)) as the paper says,
  // biases 0, layer norms 1 and 0.
  void init(uint64_t seed);
  void zero_grad();
  // The key of this step's dropout masks (training); dropout is off in forward().
  void set_dropout_key(uint64_t key) { dropout_key_ = key; }
  // Divides the logits of forward, forward_train and backward_weighted by temperature (> 0): the
  // log-probabilities of tokens sampled at that temperature, which PPO's ratios and KL penalty take, as
  // TRL's PPO trainer does. forward_backward, the language-model loss, always takes the logits as they are.
  void set_temperature(double temperature) { logit_scale_ = T(1.0 / temperature); }

  // Rows whose input embedding is given instead of looked up: a picture's features where its placeholder
  // ids are, as LLaVA's masked_scatter puts them. embeds[R, d_model] go to rows[r] (b * Tn + t) of the next
  // forward passes' inputs, the position embedding added to them as to every row; the backward passes
  // then write their gradient to dembeds (when not null) and give the token embedding none from those
  // rows. The pointers must stay valid until clear_input_embeddings().
  void set_input_embeddings(const T* embeds, T* dembeds, const uint32_t* rows, size_t R) {
    injected_ = embeds;
    dinjected_ = dembeds;
    injected_rows_ = rows;
    injected_count_ = R;
  }
  void clear_input_embeddings() { set_input_embeddings(nullptr, nullptr, nullptr, 0); }

  // Mean cross-entropy of the targets (kIgnore rows skipped) given B sequences of Tn input ids, no
  // dropout, no gradients. Activations are planned for (B, Tn) on first use and re-planned when it changes.
  // positions, when given, packs several sequences into each row of Tn: each input's position
  // (0 where a packed sequence starts), and an input attends to its own sequence only.
  double forward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn,
                 const uint32_t* positions = nullptr);
  // The training step's half: the loss as above, with dropout, and grad_scale times its gradient added
  // to grads() (grad_scale = 1 / micro-batches makes accumulated gradients those of the whole batch).
  double forward_backward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn, T grad_scale = T(1),
                          const uint32_t* positions = nullptr);
  // A score head's model (GptHead::kScore): each sequence's scalar, read at its last token last[b] (the
  // sequences are padded to Tn after it; causal attention keeps padding out of the score). train: with
  // dropout, keeping what score_backward needs.
  void score(T* out, const uint32_t* inputs, const uint32_t* last, size_t B, size_t Tn, bool train);
  // After score(..., train): adds the gradients of a loss whose derivatives by the B scores are dscores.
  void score_backward(const T* dscores, const uint32_t* inputs, const uint32_t* last, size_t B, size_t Tn);
  // The same at any R rows of the B x Tn positions (rows[r] = b * Tn + t): a value model reads every
  // response position.
  void score_rows(T* out, const uint32_t* inputs, const uint32_t* rows, size_t R, size_t B, size_t Tn, bool train);
  void score_rows_backward(const T* dscores, const uint32_t* inputs, const uint32_t* rows, size_t R, size_t B,
                           size_t Tn);

  // The training step in two halves, for losses that weigh each target by what the forward pass gave (DPO
  // weighs a sequence's targets by its log-probability's place in the loss): forward_train computes every
  // target's cross-entropy (token_losses(): [B * Tn], 0 at kIgnore) with dropout, keeping the activations
  // and the head's probabilities at the targets' rows (up to kKeptHeadBytes of them; past that
  // backward_weighted computes the logits again); backward_weighted then adds the gradient of
  // sum_t row_scale[t] * loss_t to grads().
  void forward_train(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn);
  // A share of DPO's or PPO's sequences: about a thousand rows of GPT-2's vocabulary.
  static constexpr size_t kKeptHeadBytes = size_t(256) << 20;
  void backward_weighted(const T* row_scale, const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn);
  // Each target's cross-entropy from the last forward, forward_train or forward_backward.
  const T* token_losses() const { return acts_.data() + losses_; }

  // Logits of the last position of each of the B sequences: out[B, vocab].
  void last_logits(T* out, const uint32_t* inputs, size_t B, size_t Tn);
  // The LM head's input of the last forward pass, [B * Tn, d_model] (GPT-2: the final layer norm's output;
  // GPT: the last block's), so a test can take every position's logits with lm_head_logits.
  const T* head_input() const {
    return acts_.data() + (config_.arch == GptArch::kGpt2 ? lnf_ : layer_acts_.back().ln2);
  }

 private:
  struct LayerOffsets {
    size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b;
  };
  // The activations of one layer, as offsets into acts_.
  struct LayerActs {
    size_t ln1, ln1_mean, ln1_rstd, qkv, atty, lse, res2, ln2, ln2_mean, ln2_rstd, fch, fch_gelu, res3;
  };

  void plan(size_t B, size_t Tn);
  void run_forward(const uint32_t* inputs, const uint32_t* positions, size_t B, size_t Tn, bool train);
  void run_backward(const uint32_t* inputs, const uint32_t* positions, size_t B, size_t Tn);
  // The backward pass from the gradient of the head's input, already in dhead_buffer(): through the final
  // layer norm (GPT-2), then the blocks.
  T* dhead_buffer() { return config_.arch == GptArch::kGpt2 ? dtmp_.data() : dres_.data(); }
  void backward_from_head(const uint32_t* inputs, const uint32_t* positions, size_t B, size_t Tn);
  void require_head(GptHead head, const char* what) const;
  const T* block_input(size_t layer) const;
  const T* p(size_t offset) const {
    return (bound_params_ ? bound_params_ : (params_owner_ ? params_owner_->params_ : params_).data()) + offset;
  }
  T* g(size_t offset) { return (bound_grads_ ? bound_grads_ : grads_.data()) + offset; }
  bool has_grads() const { return bound_grads_ != nullptr || grads_.size() == layout_.total(); }
  T* a(size_t offset) { return acts_.data() + offset; }
  // Where dropout draws its mask: each site of each layer has its own stream.
  enum DropoutSite { kAttention = 0, kAttentionResidual = 1, kMlpResidual = 2, kEmbedding = 3 };
  uint64_t site_key(size_t layer, int site) const;

  GptConfig config_;
  ParameterLayout layout_;
  size_t wte_ = 0, wpe_ = 0, lnf_w_ = 0, lnf_b_ = 0, score_w_ = 0;
  std::vector<LayerOffsets> layers_;
  Buffer<T> params_, grads_;
  const Gpt* params_owner_ = nullptr;  // a replica's: whose parameters it reads
  T* bound_params_ = nullptr;          // bind()'s
  T* bound_grads_ = nullptr;

  // Activations planned for (planned_B_, planned_T_): embeddings, each layer's, the final norm, the head.
  size_t planned_B_ = 0, planned_T_ = 0;
  Buffer<T> acts_;
  size_t encoded_ = 0, lnf_ = 0, lnf_mean_ = 0, lnf_rstd_ = 0, losses_ = 0;
  std::vector<LayerActs> layer_acts_;
  // Backward scratch: the residual stream's gradient and one layer's intermediate gradients.
  Buffer<T> dres_, dtmp_, dqkv_, dfch_, dfch2_;
  uint64_t dropout_key_ = 0;
  T logit_scale_ = T(1);  // 1 / temperature
  const T* injected_ = nullptr;  // set_input_embeddings'
  T* dinjected_ = nullptr;
  const uint32_t* injected_rows_ = nullptr;
  size_t injected_count_ = 0;
  Buffer<T> head_probs_;  // forward_train's probabilities of the rows with a target, for backward_weighted
  bool head_kept_ = false;
  bool train_ = false;
};

extern template class Gpt<float>;
extern template class Gpt<double>;

}  // namespace lmpipe::nn
