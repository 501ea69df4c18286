#pragma once
// The layers of the transformers, each a forward and a backward over plain arrays (row-major, batch and
// time flattened into N rows), in the spirit of llm.c: read top to bottom, no hidden state. Matrix
// products are OpenBLAS's sgemm, called directly (Eigen's products zero their output first, an extra
// pass over it); the rest are Eigen array expressions and loops parallelised with OpenMP.
// Templated on the scalar type: float for training, double for the finite-difference gradient checks.
//
// Conventions: backward functions overwrite the input gradient (dinp) and ADD to parameter gradients
// (dweight, dbias), which accumulate over micro-batches until the optimizer step clears them.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nn/buffer.h"

namespace lmpipe::nn {

// x[N, C] = wte[tokens[n]] + wpe[position]: token plus learned position embeddings, the position of row n
// positions[n] (sequences packed into a row of Tn, each from position 0) or, with positions null, n % Tn.
template <class T>
void embedding_forward(T* out, const uint32_t* tokens, const T* wte, const T* wpe, size_t N, size_t Tn, size_t C,
                       const uint32_t* positions = nullptr);
template <class T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const uint32_t* tokens, size_t N, size_t Tn, size_t C,
                        const uint32_t* positions = nullptr);

// Layer normalisation over the last dimension; mean and rstd (1/sqrt(var + eps)) are kept for backward.
template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, size_t N, size_t C,
                       T eps);
template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, const T* mean,
                        const T* rstd, size_t N, size_t C);

// out[N, OC] = inp[N, C] @ weight[C, OC] + bias[OC] (HuggingFace's Conv1D layout, [in, out]).
template <class T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, size_t N, size_t C, size_t OC);
template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, size_t N, size_t C,
                     size_t OC);
// out[N, OC] = residual[N, OC] + inp @ weight + bias: a residual branch without dropout in one pass over
// out before the product, where linear_forward and an addition make two. Its backward is linear_backward.
template <class T>
void linear_residual_forward(T* out, const T* inp, const T* weight, const T* bias, const T* residual, size_t N,
                             size_t C, size_t OC);

// The same with PyTorch's nn.Linear layout, weight[OC, C] ([out, in]: HuggingFace's BERT and RoBERTa):
// out = inp @ weight^T + bias. bias may be null (none); in the backward, dinp may be null (an input that
// takes no gradient, such as pixels).
template <class T>
void linear_t_forward(T* out, const T* inp, const T* weight, const T* bias, size_t N, size_t C, size_t OC);
template <class T>
void linear_t_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, size_t N, size_t C,
                       size_t OC);

// GELU, the tanh approximation (GPT-2, Google's BERT), the exact erf form (HuggingFace's BERT "gelu"), or
// CLIP's quick GELU, x sigmoid(1.702 x) (transformers' "quick_gelu").
enum class Gelu { kTanh, kErf, kQuick };
template <class T>
void gelu_forward(T* out, const T* inp, size_t n, Gelu kind);
// out is gelu_forward's output for inp: the backward reads the tanh (or Phi, or the sigmoid) from it,
// out / inp, instead of computing it again (the tanh is the costly part of the MLP backward outside its products).
template <class T>
void gelu_backward(T* dinp, const T* dout, const T* inp, const T* out, size_t n, Gelu kind);

// Dropout without stored masks: element i is kept when a hash of (key, i) clears p, and kept elements
// are scaled by 1 / (1 - p). The same call with the same key applies the same mask to a gradient.
// p = 0 does nothing.
template <class T>
void dropout_apply(T* x, size_t n, T p, uint64_t key);
// dropout_apply on R rows of C gathered from a larger [N, C] array: row r gets the masks of row rows[r]
// there, so a layer computed at a subset of rows drops what the whole layer would. rows == nullptr: rows
// 0..R-1, i.e. dropout_apply(x, R * C, p, key).
template <class T>
void dropout_apply_rows(T* x, const uint32_t* rows, size_t R, size_t C, T p, uint64_t key);
// The key of one dropout site (a layer's attention, residual, ...) within a step whose key is step_key.
uint64_t dropout_site_key(uint64_t step_key, size_t layer, int site);

// The keys each row of a sequence attends to.
struct AttentionMask {
  bool causal = false;                   // row t sees keys 0..t (decoders)
  const uint8_t* key_mask = nullptr;     // [B*Tn] or null: 0 marks a padding key no row sees (encoders)
  const uint32_t* positions = nullptr;   // [B*Tn] or null, causal only: several sequences packed into a row,
                                         // each from position 0; row t sees keys t - positions[t]..t
};

// Multi-head self-attention on qkv[B*Tn, 3C] (q, k, v one after the other, head h in columns
// h*hs..(h+1)*hs of each) to out[B*Tn, C], each row attending to the keys mask gives it. Only
// lse[B, NH, Tn], each row's log-sum-exp of scores, is kept; the probabilities exist a block of rows at a
// time (as FlashAttention tiles them), and backward recomputes them the same way, so memory grows with Tn,
// not Tn * Tn. dropout > 0 drops attention probabilities (after the softmax) with masks keyed by
// dropout_key.
template <class T>
void attention_forward(T* out, T* lse, const T* qkv, const AttentionMask& mask, size_t B, size_t Tn, size_t C,
                       size_t NH, T dropout = 0, uint64_t dropout_key = 0);
template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, const AttentionMask& mask,
                        size_t B, size_t Tn, size_t C, size_t NH, T dropout = 0, uint64_t dropout_key = 0);

// Attention of R new rows against a KV cache (generation): q[R, C] with row stride q_stride, row r at
// position P + r; kcache and vcache [P + R, C] with rows P..P+R-1 already written. Row r attends to
// positions 0..P+r (causal), heads as in attention_forward. out[R, C].
template <class T>
void attention_cached_forward(T* out, const T* q, size_t q_stride, const T* kcache, const T* vcache, size_t P,
                              size_t R, size_t C, size_t NH);

// The language-model head with its loss, fused: logits = x[N, C] @ wte[V, C]^T, cross-entropy against
// targets (kIgnore: no loss at that row, and no part in the products: a chat's prompt and padding cost
// nothing), computed rows_per_chunk rows at a time so the [N, V] logits never exist whole. losses[N] gets each row's loss. With dx non-null it also writes dx = dlogits @ wte
// and adds dlogits^T @ x to dwte, where dlogits = (softmax - onehot) * scale. Returns the sum of the
// losses and sets *counted to the rows with a target. bias[V] (BERT's MLM decoder bias) is added to the
// logits when given, and its gradient added to dbias when dx is. predictions[N], when given, gets each
// row's most probable id (for accuracy). row_scale[N], when given, scales each row's dlogits instead of
// scale (losses whose weight per target depends on the forward pass, as DPO's). logit_scale multiplies the
// logits before the softmax (1 / temperature: the log-probabilities of tokens sampled at a temperature, as
// PPO's rollouts are), and the gradient is that of the scaled logits' loss.
inline constexpr uint32_t kIgnore = UINT32_MAX;
// Rows per chunk of logits: 256 rows of GPT-2's vocabulary are 51 MB, of BERT's 31 MB; larger chunks
// make the head's products no faster and its memory larger.
inline constexpr size_t kHeadRowsPerChunk = 256;
template <class T>
double lm_head_loss(T* dx, T* dwte, T* losses, const T* x, const T* wte, const uint32_t* targets, size_t N, size_t C,
                    size_t V, T scale, size_t* counted, size_t rows_per_chunk = kHeadRowsPerChunk, const T* bias = nullptr,
                    T* dbias = nullptr, uint32_t* predictions = nullptr, const T* row_scale = nullptr,
                    T logit_scale = T(1));

// The head in two halves, for losses whose weight per target depends on the forward pass (DPO's, PPO's):
// lm_head_keep computes the losses as lm_head_loss does and keeps the probabilities of the rows with a
// target (in order: [K, V], K returned) in probs, so that lm_head_kept_backward, given row_scale[N],
// writes dx and adds to dwte the gradient of sum_r row_scale[r] * losses[r] without computing the logits
// again. The caller bounds K * V (the memory they take).
template <class T>
size_t lm_head_keep(Buffer<T>& probs, T* losses, const T* x, const T* wte, const uint32_t* targets, size_t N, size_t C,
                    size_t V, T logit_scale = T(1));
template <class T>
void lm_head_kept_backward(T* dx, T* dwte, Buffer<T>& probs, const T* x, const T* wte, const uint32_t* targets,
                           const T* row_scale, size_t N, size_t C, size_t V, T logit_scale = T(1));

// Logits of a few rows (generation): out[R, V] = x[R, C] @ wte^T.
template <class T>
void lm_head_logits(T* out, const T* x, const T* wte, size_t R, size_t C, size_t V);

}  // namespace lmpipe::nn
