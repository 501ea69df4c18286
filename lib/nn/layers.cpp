#include "nn/layers.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <cblas.h>

#include <Eigen/Dense>
#include <unsupported/Eigen/SpecialFunctions>  // Eigen arrays' SIMD erf

#include "core/error.h"
#include "nn/onednn_gemm.h"

namespace lmpipe::nn {
namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using StridedMap = Eigen::Map<Mat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using ConstStridedMap = Eigen::Map<const Mat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Elementwise loops shorter than this run on one thread: waking a passively waiting thread team costs
// more than the work (a generated token's layer norms and GELUs are one row).
constexpr size_t kParallelMin = size_t(1) << 15;

// C[M, N] = alpha op(A) op(B) + beta C, row-major, straight to OpenBLAS. Eigen's `noalias() =` zeroes C and
// then calls BLAS with beta = 1; called directly, a bias copied into C first (beta = 1) replaces both that
// pass and the bias's own, and a scale goes into alpha. lda, ldb and ldc are row strides, so a head's
// columns of a wider matrix can be an operand.
inline void blas_gemm(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                      const float* B, size_t ldb, float beta, float* C, size_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), alpha,
              A, int(lda), B, int(ldb), beta, C, int(ldc));
}
inline void blas_gemm(bool ta, bool tb, size_t M, size_t N, size_t K, double alpha, const double* A, size_t lda,
                      const double* B, size_t ldb, double beta, double* C, size_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), alpha,
              A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// op(A) is [M, K], op(B) [K, N]; ta: A is stored [K, M] (its transpose), tb: B is stored [N, K].
template <class T>
void gemm(bool ta, bool tb, size_t M, size_t N, size_t K, const T* A, const T* B, T beta, T* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (beta == T(0)) std::fill(C, C + M * N, T(0));
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (bf16_products()) return gemm_bf16(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, beta, C, N);
    if (M < kFewRows) return gemm_f32_few_rows(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, beta, C, N);
  }
  blas_gemm(ta, tb, M, N, K, T(1), A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

// out[N, OC] = bias (or 0), the starting value of a product added to it.
template <class T>
T start_with_bias(T* out, const T* bias, size_t N, size_t OC) {
  if (bias == nullptr) return T(0);
#pragma omp parallel for schedule(static) if (N * OC >= kParallelMin)
  for (size_t n = 0; n < N; ++n) std::copy_n(bias, OC, out + n * OC);
  return T(1);
}

// dbias[OC] += the column sums of dout[N, OC]. The threads split the columns and each walks down the
// rows, so every read is contiguous (a bias gradient is a pass over a layer's whole output gradient).
template <class T>
void add_column_sums(T* dbias, const T* dout, size_t N, size_t OC) {
#pragma omp parallel if (N * OC >= kParallelMin)
  {
    const size_t t = size_t(omp_get_thread_num()), nt = size_t(omp_get_num_threads());
    const size_t c0 = OC * t / nt, c1 = OC * (t + 1) / nt;
    for (size_t n = 0; n < N; ++n) {
      const T* row = dout + n * OC;
      for (size_t c = c0; c < c1; ++c) dbias[c] += row[c];
    }
  }
}

// Per-thread scratch matrices: the attention loops' (one (batch, head) at a time per thread) and the LM
// head's logits, gathered input rows and their gradients.
enum Scratch { kProbs, kProbGrads, kDroppedProbs, kHeadColumns, kLogits, kHeadRows, kHeadRowGrads, kScratchCount };
template <class T>
Mat<T>& scratch(Scratch which) {
  thread_local Mat<T> buffers[kScratchCount];
  return buffers[which];
}

// dst[cols, rows] = the transpose of a head's columns src[rows (row stride ld), cols]. Scores are then
// plain products q (k^T): OpenBLAS 0.3.21's small-matrix kernel for A B^T is slow, and it sends the wider
// ones (32 rows against 64 keys) through its packing path; with k^T (and v^T) copied out once they all
// take the fast A B kernel.
template <class T>
void transpose_head(T* dst, const T* src, size_t rows, size_t cols, size_t ld) {
  Eigen::Map<Mat<T>>(dst, Eigen::Index(cols), Eigen::Index(rows)) =
      ConstStridedMap<T>(src, Eigen::Index(rows), Eigen::Index(cols), Eigen::OuterStride<>(Eigen::Index(ld))).transpose();
}

// The padding of one sequence's keys, as two rows of Tn for vectorised softmax loops: bias 0 for a key that
// may be seen and -inf for padding, keep 1 and 0.
template <class T>
struct KeyMask {
  Eigen::Array<T, Eigen::Dynamic, 1> bias, keep;
  bool any_padding = false;
  KeyMask(const uint8_t* key_mask, size_t b, size_t Tn) : bias(Eigen::Index(Tn)), keep(Eigen::Index(Tn)) {
    for (size_t j = 0; j < Tn; ++j) {
      const bool seen = key_mask == nullptr || key_mask[b * Tn + j] != 0;
      bias[Eigen::Index(j)] = seen ? T(0) : -std::numeric_limits<T>::infinity();
      keep[Eigen::Index(j)] = seen ? T(1) : T(0);
      any_padding |= !seen;
    }
  }
};

// The keys row t of a block sees: [first, end) of the keys [k0, k1) its block's products computed.
struct RowKeys {
  size_t first, end;
};

// Row t of a block of scores, s[0..k1 - k0) for keys k0..k1, of which keys [first, end) are visible.
// Replaces them by exp(s - shift) over the visible, unpadded keys and 0 elsewhere; returns the sum.
// Padded keys are multiplied by 0 after the exp: Eigen's exp of -inf is a tiny number, not 0. Without
// padding the exp runs on to a whole cache line (whole SIMD packets: the row holds scores there too, and
// they are zeroed after): Eigen leaves a ragged tail to scalar expf calls, and causal rows are all ragged.
template <class T>
T exp_row(T* s, T shift, const KeyMask<T>& mask, RowKeys keys, size_t k0, size_t k1) {
  const auto n = Eigen::Index(keys.end - keys.first);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> row(s + (keys.first - k0), n);
  if (mask.any_padding) {
    const auto at = Eigen::Index(keys.first);
    row = (row + mask.bias.segment(at, n) - shift).exp() * mask.keep.segment(at, n);
  } else {
    constexpr size_t line = 64 / sizeof(T);
    const size_t whole = std::min(k1, keys.first + (size_t(n) + line - 1) / line * line);
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> padded(s + (keys.first - k0), Eigen::Index(whole - keys.first));
    padded = (padded - shift).exp();
  }
  std::fill(s, s + (keys.first - k0), T(0));
  std::fill(s + (keys.end - k0), s + (k1 - k0), T(0));
  return row.sum();
}

// The largest visible, unpadded score of a row as exp_row takes it (-inf when there is none).
template <class T>
T row_max(const T* s, const KeyMask<T>& mask, RowKeys keys, size_t k0) {
  const auto n = Eigen::Index(keys.end - keys.first);
  const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> row(s + (keys.first - k0), n);
  return mask.any_padding ? (row + mask.bias.segment(Eigen::Index(keys.first), n)).maxCoeff() : row.maxCoeff();
}

// Whether element i survives dropout under key: a SplitMix64 hash of (key, i) against p * 2^64.
inline bool kept(uint64_t key, uint64_t i, uint64_t threshold) {
  uint64_t z = key ^ (i * 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) >= threshold;
}

// p * 2^64: a hash below it drops the element. p < 1 (checked with the configuration).
template <class T>
uint64_t drop_threshold(T p) {
  return p <= T(0) ? 0 : uint64_t(std::ldexp(double(p), 64));
}

// Applies the dropout mask of one (batch, head) probability matrix [Tn, Tn] in place to a block of it:
// rows [r0, r1) and keys [k0, k1), p's row t at p + (t - r0) * ld. The mask of element (t, j) depends on
// (key, bh, t, j) alone, so however the rows are blocked, forward and backward drop the same elements.
template <class T>
void drop_probabilities(T* p, size_t ld, size_t r0, size_t r1, size_t k0, size_t k1, size_t Tn, size_t bh, T dropout,
                        uint64_t key) {
  const uint64_t threshold = drop_threshold(dropout);
  const T keep_scale = T(1) / (T(1) - dropout);
  for (size_t t = r0; t < r1; ++t) {
    T* row = p + (t - r0) * ld - k0;
    for (size_t j = k0; j < k1; ++j) row[j] = kept(key, (bh * Tn + t) * Tn + j, threshold) ? row[j] * keep_scale : T(0);
  }
}

}  // namespace

template <class T>
void embedding_forward(T* out, const uint32_t* tokens, const T* wte, const T* wpe, size_t N, size_t Tn, size_t C,
                       const uint32_t* positions) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; ++n) {
    const T* w = wte + size_t(tokens[n]) * C;
    const T* p = wpe + (positions ? positions[n] : n % Tn) * C;
    T* o = out + n * C;
    for (size_t c = 0; c < C; ++c) o[c] = w[c] + p[c];
  }
}

template <class T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const uint32_t* tokens, size_t N, size_t Tn, size_t C,
                        const uint32_t* positions) {
  // Serial over rows: two rows with the same token add to the same embedding row.
  for (size_t n = 0; n < N; ++n) {
    T* w = dwte + size_t(tokens[n]) * C;
    T* p = dwpe + (positions ? positions[n] : n % Tn) * C;
    const T* d = dout + n * C;
    for (size_t c = 0; c < C; ++c) {
      w[c] += d[c];
      p[c] += d[c];
    }
  }
}

uint64_t dropout_site_key(uint64_t step_key, size_t layer, int site) {
  uint64_t state = step_key ^ (uint64_t(layer) * 8 + uint64_t(site)) * 0x9E3779B97F4A7C15ULL;
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);  // SplitMix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

template <class T>
void dropout_apply(T* x, size_t n, T p, uint64_t key) {
  if (p <= T(0)) return;
  const uint64_t threshold = drop_threshold(p);
  const T keep_scale = T(1) / (T(1) - p);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (size_t i = 0; i < n; ++i) x[i] = kept(key, i, threshold) ? x[i] * keep_scale : T(0);
}

template <class T>
void dropout_apply_rows(T* x, const uint32_t* rows, size_t R, size_t C, T p, uint64_t key) {
  if (rows == nullptr) return dropout_apply(x, R * C, p, key);
  if (p <= T(0)) return;
  const uint64_t threshold = drop_threshold(p);
  const T keep_scale = T(1) / (T(1) - p);
#pragma omp parallel for schedule(static) if (R * C >= kParallelMin)
  for (size_t r = 0; r < R; ++r) {
    const uint64_t first = uint64_t(rows[r]) * C;
    T* row = x + r * C;
    for (size_t c = 0; c < C; ++c) row[c] = kept(key, first + c, threshold) ? row[c] * keep_scale : T(0);
  }
}

// A row's mean and variance go through Eigen's vectorised sums: a plain loop's float sum is one long chain
// of dependent adds, which the compiler may not reorder.
template <class T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, size_t N, size_t C,
                       T eps) {
  const ConstArrayMap<T> w(weight, Eigen::Index(C)), b(bias, Eigen::Index(C));
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; ++n) {
    const ConstArrayMap<T> x(inp + n * C, Eigen::Index(C));
    const T m = x.mean();
    const T s = T(1) / std::sqrt((x - m).square().mean() + eps);
    ArrayMap<T>(out + n * C, Eigen::Index(C)) = (x - m) * s * w + b;
    mean[n] = m;
    rstd[n] = s;
  }
}

template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, const T* mean,
                        const T* rstd, size_t N, size_t C) {
  const ConstArrayMap<T> w(weight, Eigen::Index(C));
  // Each thread's share of the parameter gradients, added to them in thread order afterwards: gradients
  // that already hold a micro-batch's then get the same sum, rounded the same way, in every run.
  using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
  std::vector<Row> dws(static_cast<size_t>(omp_get_max_threads())), dbs(dws.size());
#pragma omp parallel
  {
    Row dw = Row::Zero(Eigen::Index(C)), db = dw, norm = dw;  // norm: a row's normalised input
#pragma omp for schedule(static)
    for (size_t n = 0; n < N; ++n) {
      const ConstArrayMap<T> x(inp + n * C, Eigen::Index(C)), d(dout + n * C, Eigen::Index(C));
      const T s = rstd[n];
      norm = (x - mean[n]) * s;
      const T dnorm_mean = (d * w).mean();
      const T dnorm_norm_mean = (d * w * norm).mean();
      dw += d * norm;
      db += d;
      ArrayMap<T>(dinp + n * C, Eigen::Index(C)) = (d * w - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
    dws[size_t(omp_get_thread_num())] = std::move(dw);
    dbs[size_t(omp_get_thread_num())] = std::move(db);
  }
  for (size_t t = 0; t < dws.size(); ++t) {
    if (dws[t].size() == 0) continue;  // a thread the team did not have
    ArrayMap<T>(dweight, Eigen::Index(C)) += dws[t];
    ArrayMap<T>(dbias, Eigen::Index(C)) += dbs[t];
  }
}

template <class T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, size_t N, size_t C, size_t OC) {
  gemm(false, false, N, OC, C, inp, weight, start_with_bias(out, bias, N, OC), out);
}

template <class T>
void linear_residual_forward(T* out, const T* inp, const T* weight, const T* bias, const T* residual, size_t N,
                             size_t C, size_t OC) {
#pragma omp parallel for schedule(static) if (N * OC >= kParallelMin)
  for (size_t n = 0; n < N; ++n) {
    const T* r = residual + n * OC;
    T* o = out + n * OC;
    for (size_t c = 0; c < OC; ++c) o[c] = r[c] + bias[c];
  }
  gemm(false, false, N, OC, C, inp, weight, T(1), out);
}

template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, size_t N, size_t C,
                     size_t OC) {
  gemm(false, true, N, C, OC, dout, weight, T(0), dinp);       // dinp = dout weight^T
  gemm(true, false, C, OC, N, inp, dout, T(1), dweight);       // dweight += inp^T dout
  if (dbias != nullptr) add_column_sums(dbias, dout, N, OC);
}

template <class T>
void linear_t_forward(T* out, const T* inp, const T* weight, const T* bias, size_t N, size_t C, size_t OC) {
  gemm(false, true, N, OC, C, inp, weight, start_with_bias(out, bias, N, OC), out);
}

template <class T>
void linear_t_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, size_t N, size_t C,
                       size_t OC) {
  if (dinp != nullptr) gemm(false, false, N, C, OC, dout, weight, T(0), dinp);  // dinp = dout weight
  gemm(true, false, OC, C, N, dout, inp, T(1), dweight);                        // dweight += dout^T inp
  if (dbias != nullptr) add_column_sums(dbias, dout, N, OC);
}

namespace {
constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kSqrtHalf = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;
constexpr double kQuickGelu = 1.702;
}

// Elementwise work goes through Eigen arrays in blocks: Eigen has SIMD exp, tanh and erf, where libm's
// are scalar calls.
constexpr size_t kBlock = 4096;

template <class T>
void gelu_forward(T* out, const T* inp, size_t n, Gelu kind) {
  if (kind == Gelu::kTanh) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m);
      ArrayMap<T>(out + b, m) = T(0.5) * x * (T(1) + (T(kSqrt2OverPi) * (x + T(0.044715) * x.cube())).tanh());
    }
  } else if (kind == Gelu::kErf) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m);
      ArrayMap<T>(out + b, m) = T(0.5) * x * (T(1) + (x * T(kSqrtHalf)).erf());
    }
  } else {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m);
      ArrayMap<T>(out + b, m) = x / (T(1) + (T(-kQuickGelu) * x).exp());
    }
  }
}

// gelu(x) = x g(x) with g = (1 + tanh(k (x + a x^3))) / 2 or Phi(x), so g = out / x where x != 0
// (g(0) = 1/2). In float the derivative is then as close as with tanh computed again: 3.8e-6 against
// 3.4e-6 at worst, near |x| = 5, where 1 - tanh^2 is a difference of nearly equal numbers either way
// (tests/unit/layers_test.cpp).
template <class T>
void gelu_backward(T* dinp, const T* dout, const T* inp, const T* out, size_t n, Gelu kind) {
  if (kind == Gelu::kTanh) {
    // d/dx = g + x (1 - th^2) k (1 + 3a x^2) / 2 with th = 2g - 1, so 1 - th^2 = 4 g (1 - g).
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m), y(out + b, m), d(dout + b, m);
      ArrayMap<T> g(dinp + b, m);  // g first, then the gradient in its place
      g = (x != T(0)).select(y / x, T(0.5));
      g = d * (g + T(2 * kSqrt2OverPi) * x * g * (T(1) - g) * (T(1) + T(3 * 0.044715) * x.square()));
    }
  } else if (kind == Gelu::kErf) {
    // d/dx x Phi(x) = Phi(x) + x phi(x).
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m), y(out + b, m), d(dout + b, m);
      ArrayMap<T> g(dinp + b, m);
      g = (x != T(0)).select(y / x, T(0.5));
      g = d * (g + x * (T(-0.5) * x.square()).exp() * T(kInvSqrt2Pi));
    }
  } else {
    // d/dx x s(kx) = s + k x s (1 - s), s the sigmoid.
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m), y(out + b, m), d(dout + b, m);
      ArrayMap<T> g(dinp + b, m);
      g = (x != T(0)).select(y / x, T(0.5));
      g = d * (g + T(kQuickGelu) * x * g * (T(1) - g));
    }
  }
}

// Attention goes through a (batch, head)'s rows in blocks, the probabilities of one block at a time. A
// causal block of rows [r0, r1) sees keys [0, r1) only, so its products skip the keys above the diagonal
// (at 64 positions a quarter of the work, at 1024 nearly half); a multiple of a cache line's floats, so
// exp_row's whole-line exps stay within computed keys. An encoder's block holds up to kScoresPerBlock
// scores: a whole 512-position matrix at once, slices of a longer one.
constexpr size_t kCausalRowBlock = 32;
constexpr size_t kScoresPerBlock = size_t(1) << 18;

size_t row_block(bool causal, size_t Tn) {
  return causal ? kCausalRowBlock : std::min(Tn, std::max(kCausalRowBlock, kScoresPerBlock / Tn));
}

// The keys row t of sequence b sees.
RowKeys row_keys(const AttentionMask& mask, size_t b, size_t Tn, size_t t) {
  if (!mask.causal) return {0, Tn};
  const size_t back = mask.positions ? std::min<size_t>(mask.positions[b * Tn + t], t) : t;
  return {t - back, t + 1};
}

// The keys [k0, k1) the rows [r0, r1) of sequence b see between them: the block's products compute these.
std::pair<size_t, size_t> block_keys(const AttentionMask& mask, size_t b, size_t Tn, size_t r0, size_t r1) {
  size_t k0 = Tn;
  for (size_t t = r0; t < r1; ++t) k0 = std::min(k0, row_keys(mask, b, Tn, t).first);
  return {k0, mask.causal ? r1 : Tn};
}

template <class T>
void attention_forward(T* out, T* lse, const T* qkv, const AttentionMask& mask, size_t B, size_t Tn, size_t C,
                       size_t NH, T dropout, uint64_t dropout_key) {
  const size_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  const size_t block = row_block(mask.causal, Tn);
  // Each (batch, head) is a few small products, made straight by OpenBLAS (one thread each inside this
  // loop) with the strides of qkv: no copies of the heads' columns, and the scale in the product's alpha.
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t bh = 0; bh < B * NH; ++bh) {
    const size_t b = bh / NH, h = bh % NH;
    const T* q = qkv + b * Tn * 3 * C + h * hs;
    const T* k = q + C;
    const T* v = q + 2 * C;
    const KeyMask<T> padding(mask.key_mask, b, Tn);
    Mat<T>& p = scratch<T>(kProbs);  // a block's probabilities: row t at (t - r0) * Tn, key j at j - k0
    p.resize(Eigen::Index(block), Eigen::Index(Tn));
    Mat<T>& kt = scratch<T>(kHeadColumns);
    kt.resize(Eigen::Index(hs), Eigen::Index(Tn));
    transpose_head(kt.data(), k, Tn, hs, 3 * C);
    T* row_lse = lse + bh * Tn;
    for (size_t r0 = 0; r0 < Tn; r0 += block) {
      const size_t r1 = std::min(Tn, r0 + block);
      const auto [k0, k1] = block_keys(mask, b, Tn, r0, r1);
      // scores = q k^T / sqrt(hs), the block's rows against the keys they see
      blas_gemm(false, false, r1 - r0, k1 - k0, hs, scale, q + r0 * 3 * C, 3 * C, kt.data() + k0, Tn, T(0), p.data(), Tn);
      for (size_t t = r0; t < r1; ++t) {
        T* s = p.data() + (t - r0) * Tn;
        const RowKeys keys = row_keys(mask, b, Tn, t);
        const T m = row_max(s, padding, keys, k0);
        if (m == -std::numeric_limits<T>::infinity()) {  // nothing to attend to (all padding): output zeros
          std::fill(s, s + (k1 - k0), T(0));
          row_lse[t] = T(0);
          continue;
        }
        const T sum = exp_row(s, m, padding, keys, k0, k1);
        Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(s + (keys.first - k0), Eigen::Index(keys.end - keys.first)) *=
            T(1) / sum;
        row_lse[t] = m + std::log(sum);
      }
      if (dropout > T(0)) drop_probabilities(p.data(), Tn, r0, r1, k0, k1, Tn, bh, dropout, dropout_key);
      blas_gemm(false, false, r1 - r0, hs, k1 - k0, T(1), p.data(), Tn, v + k0 * 3 * C, 3 * C, T(0),
                out + (b * Tn + r0) * C + h * hs, C);  // p v
    }
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, const AttentionMask& mask,
                        size_t B, size_t Tn, size_t C, size_t NH, T dropout, uint64_t dropout_key) {
  const size_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  const size_t block = row_block(mask.causal, Tn);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t bh = 0; bh < B * NH; ++bh) {
    const size_t b = bh / NH, h = bh % NH;
    const T* q = qkv + b * Tn * 3 * C + h * hs;
    const T* k = q + C;
    const T* v = q + 2 * C;
    const T* o = out + b * Tn * C + h * hs;
    const T* d_o = dout + b * Tn * C + h * hs;
    T* dq = dqkv + b * Tn * 3 * C + h * hs;
    T* dk = dq + C;
    T* dv = dq + 2 * C;
    const KeyMask<T> padding(mask.key_mask, b, Tn);
    Mat<T>& p = scratch<T>(kProbs);  // a block's, laid out as in forward
    p.resize(Eigen::Index(block), Eigen::Index(Tn));
    Mat<T>& ds = scratch<T>(kProbGrads);
    ds.resize(Eigen::Index(block), Eigen::Index(Tn));
    Mat<T>& kvt = scratch<T>(kHeadColumns);  // k^T above v^T
    kvt.resize(Eigen::Index(2 * hs), Eigen::Index(Tn));
    const T* kt = kvt.data();
    const T* vt = kvt.data() + hs * Tn;
    transpose_head(kvt.data(), k, Tn, hs, 3 * C);
    transpose_head(kvt.data() + hs * Tn, v, Tn, hs, 3 * C);
    // dk and dv add up over the blocks of rows that see each key.
    for (size_t t = 0; t < Tn; ++t) {
      std::fill(dk + t * 3 * C, dk + t * 3 * C + hs, T(0));
      std::fill(dv + t * 3 * C, dv + t * 3 * C + hs, T(0));
    }
    const T* row_lse = lse + bh * Tn;
    for (size_t r0 = 0; r0 < Tn; r0 += block) {
      const size_t r1 = std::min(Tn, r0 + block);
      const auto [k0, k1] = block_keys(mask, b, Tn, r0, r1);
      const size_t rows = r1 - r0, keys = k1 - k0;
      // The block's probabilities again, from the saved log-sum-exp, and d p (after dropout) = d_o v^T.
      blas_gemm(false, false, rows, keys, hs, scale, q + r0 * 3 * C, 3 * C, kt + k0, Tn, T(0), p.data(), Tn);
      for (size_t t = r0; t < r1; ++t)
        exp_row(p.data() + (t - r0) * Tn, row_lse[t], padding, row_keys(mask, b, Tn, t), k0, k1);
      blas_gemm(false, false, rows, keys, hs, T(1), d_o + r0 * C, C, vt + k0, Tn, T(0), ds.data(), Tn);
      // Forward multiplied P by the dropout mask M / (1 - p): V's gradient sees the dropped P, and the
      // probabilities' gradient goes back through the same mask.
      const T* p_used = p.data();
      if (dropout > T(0)) {
        Mat<T>& dropped = scratch<T>(kDroppedProbs);
        dropped.resize(Eigen::Index(block), Eigen::Index(Tn));
        for (size_t i = 0; i < rows; ++i) std::copy_n(p.data() + i * Tn, keys, dropped.data() + i * Tn);
        drop_probabilities(dropped.data(), Tn, r0, r1, k0, k1, Tn, bh, dropout, dropout_key);
        drop_probabilities(ds.data(), Tn, r0, r1, k0, k1, Tn, bh, dropout, dropout_key);
        p_used = dropped.data();
      }
      // dv += P^T d_o
      blas_gemm(true, false, keys, hs, rows, T(1), p_used, Tn, d_o + r0 * C, C, T(1), dv + k0 * 3 * C, 3 * C);
      // Through the softmax, elementwise per row: d score = P * (d P - sum_j P_j d P_j), and that sum is
      // the row's d_o . o.
      for (size_t t = r0; t < r1; ++t) {
        // Eigen's dot: a plain loop's float sum is one chain of dependent adds.
        using Vec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
        const T dot = Vec(d_o + t * C, Eigen::Index(hs)).dot(Vec(o + t * C, Eigen::Index(hs)));
        T* dsr = ds.data() + (t - r0) * Tn;
        const T* pr = p.data() + (t - r0) * Tn;
        for (size_t j = 0; j < keys; ++j) dsr[j] = pr[j] * (dsr[j] - dot);
      }
      // dq = d score k / sqrt(hs); dk += d score^T q / sqrt(hs)
      blas_gemm(false, false, rows, hs, keys, scale, ds.data(), Tn, k + k0 * 3 * C, 3 * C, T(0), dq + r0 * 3 * C, 3 * C);
      blas_gemm(true, false, keys, hs, rows, scale, ds.data(), Tn, q + r0 * 3 * C, 3 * C, T(1), dk + k0 * 3 * C, 3 * C);
    }
  }
}

template <class T>
void attention_cached_forward(T* out, const T* q, size_t q_stride, const T* kcache, const T* vcache, size_t P,
                              size_t R, size_t C, size_t NH) {
  const size_t hs = C / NH, S = P + R;
  const T scale = T(1) / std::sqrt(T(hs));
  using Vec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
  // Heads in parallel only when there is enough work: one new token against a short cache is less work
  // than waking the thread team.
#pragma omp parallel for schedule(static) if (R * S * C >= (size_t(1) << 18))
  for (size_t h = 0; h < NH; ++h) {
    if (R == 1) {
      // A generated token: a dot product per cached key and a weighted sum of cached values, each a
      // contiguous row. Written out: as Eigen products these small matrix-vector products would go to
      // OpenBLAS, which threads them (and waits for its threads) past a size.
      thread_local std::vector<T> scores;
      scores.resize(S);
      const Vec qh(q + h * hs, Eigen::Index(hs));
      for (size_t j = 0; j < S; ++j) scores[j] = qh.dot(Vec(kcache + j * C + h * hs, Eigen::Index(hs))) * scale;
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> s(scores.data(), Eigen::Index(S));
      s = (s - s.maxCoeff()).exp();
      s /= s.sum();
      Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> o(out + h * hs, Eigen::Index(hs));
      o.setZero();
      for (size_t j = 0; j < S; ++j) o += scores[j] * Vec(vcache + j * C + h * hs, Eigen::Index(hs));
      continue;
    }
    // A prompt: R rows at once, as matrix products; row r sees keys 0..P+r.
    const auto rows = Eigen::Index(R), keys = Eigen::Index(S), cols = Eigen::Index(hs);
    const ConstStridedMap<T> qh(q + h * hs, rows, cols, Eigen::OuterStride<>(Eigen::Index(q_stride)));
    const ConstStridedMap<T> k(kcache + h * hs, keys, cols, Eigen::OuterStride<>(Eigen::Index(C)));
    const ConstStridedMap<T> v(vcache + h * hs, keys, cols, Eigen::OuterStride<>(Eigen::Index(C)));
    Mat<T>& p = scratch<T>(kProbs);
    p.resize(rows, keys);
    p.noalias() = (qh * k.transpose()) * scale;
    for (size_t r = 0; r < R; ++r) {
      T* s = p.data() + r * S;
      const size_t visible = P + r + 1;
      const T m = *std::max_element(s, s + visible);
      Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> row(s, Eigen::Index(visible));
      row = (row - m).exp();
      row /= row.sum();
      std::fill(s + visible, s + S, T(0));
    }
    StridedMap<T>(out + h * hs, rows, cols, Eigen::OuterStride<>(Eigen::Index(C))).noalias() = p * v;
  }
}

namespace {

// The rows of an LM head's N rows that have a target, in order, and whether that is all of them.
struct TargetRows {
  std::vector<uint32_t> rows;
  bool all = true;
  TargetRows(const uint32_t* targets, size_t N) {
    rows.reserve(N);
    for (size_t r = 0; r < N; ++r)
      if (targets[r] != kIgnore) rows.push_back(uint32_t(r));
    all = rows.size() == N;
  }
  size_t size() const { return rows.size(); }
};

// The x rows of target rows k0 .. k0 + R: in place when every row has a target (they are then rows
// k0 ..), else gathered into the thread's scratch.
template <class T>
const T* head_rows(const TargetRows& t, const T* x, size_t k0, size_t R, size_t C) {
  if (t.all) return x + k0 * C;
  Mat<T>& gathered = scratch<T>(kHeadRows);
  if (gathered.rows() < Eigen::Index(R) || gathered.cols() != Eigen::Index(C))
    gathered.resize(Eigen::Index(R), Eigen::Index(C));
  for (size_t i = 0; i < R; ++i) std::copy_n(x + size_t(t.rows[k0 + i]) * C, C, gathered.data() + i * C);
  return gathered.data();
}

// Logits of R target rows (from k0) into l[R, V], then each row's loss; with a weight, the row is made
// the softmax times weight(r), the row's factor of the gradient (1: the softmax itself). Returns the
// chunk's loss sum and count.
template <bool kWeighted, class T, class Weight>
std::pair<double, size_t> head_chunk_forward(T* l, T* losses, const T* xr, const T* wte, const uint32_t* targets,
                                             const TargetRows& t, size_t k0, size_t R, size_t C, size_t V,
                                             const T* bias, uint32_t* predictions, T logit_scale,
                                             const Weight& weight) {
  gemm(false, true, R, V, C, xr, wte, start_with_bias(l, bias, R, V), l);
  double chunk_total = 0;
  size_t chunk_count = 0;
#pragma omp parallel for schedule(static) reduction(+ : chunk_total, chunk_count)
  for (size_t i = 0; i < R; ++i) {
    const size_t r = t.rows[k0 + i];
    T* row = l + i * V;
    const uint32_t target = targets[r];
    ArrayMap<T> logit(row, Eigen::Index(V));
    if (logit_scale != T(1)) logit *= logit_scale;
    Eigen::Index best = 0;
    const T m = logit.maxCoeff(&best);
    if (predictions != nullptr) predictions[r] = uint32_t(best);
    const T target_logit = row[target];
    // One pass of exp: the row becomes exp(logit - max), whose sum gives the log-sum-exp and which,
    // divided by it, is the softmax the gradient needs.
    logit = (logit - m).exp();
    const T sum = logit.sum();
    const T loss = m + std::log(sum) - target_logit;
    losses[r] = loss;
    chunk_total += double(loss);
    ++chunk_count;
    if constexpr (kWeighted) logit *= weight(r) / sum;
  }
  return {chunk_total, chunk_count};
}

// From dl[R, V] holding softmax * s(r) for target rows k0 .. k0 + R, with s(r) the row's scale (times
// logit_scale): subtracts s(r) at each target (dlogits = s (softmax - onehot)), writes those rows of dx
// and adds to dwte and dbias.
template <class T, class Scale>
void head_chunk_backward(T* dx, T* dwte, T* dbias, T* dl, const T* xr, const T* wte, const uint32_t* targets,
                         const TargetRows& t, size_t k0, size_t R, size_t C, size_t V, const Scale& scale) {
  for (size_t i = 0; i < R; ++i) {
    const size_t r = t.rows[k0 + i];
    dl[i * V + targets[r]] -= scale(r);
  }
  if (t.all) {
    gemm(false, false, R, C, V, dl, wte, T(0), dx + k0 * C);  // dx = dlogits wte
  } else {
    Mat<T>& drows = scratch<T>(kHeadRowGrads);
    if (drows.rows() < Eigen::Index(R) || drows.cols() != Eigen::Index(C)) drows.resize(Eigen::Index(R), Eigen::Index(C));
    gemm(false, false, R, C, V, dl, wte, T(0), drows.data());
    for (size_t i = 0; i < R; ++i) std::copy_n(drows.data() + i * C, C, dx + size_t(t.rows[k0 + i]) * C);
  }
  gemm(true, false, V, C, R, dl, xr, T(1), dwte);  // dwte += dlogits^T x
  if (dbias != nullptr) add_column_sums(dbias, dl, R, V);
}

// Rows without a target get loss 0 and, with dx, a zero gradient; they take no part in the products.
template <class T>
void clear_untargeted(const TargetRows& t, T* losses, T* dx, size_t N, size_t C) {
  if (t.all) return;
  std::fill(losses, losses + N, T(0));
  if (dx != nullptr) std::fill(dx, dx + N * C, T(0));
}

}  // namespace

template <class T>
double lm_head_loss(T* dx, T* dwte, T* losses, const T* x, const T* wte, const uint32_t* targets, size_t N, size_t C,
                    size_t V, T scale, size_t* counted, size_t rows_per_chunk, const T* bias, T* dbias,
                    uint32_t* predictions, const T* row_scale, T logit_scale) {
  // Kept from call to call: a chunk of GPT-2's 50257-wide logits (51 MB) is above glibc's largest mmap
  // threshold (32 MB), so a fresh one every step would come from the kernel as new pages, faulted in and
  // zeroed.
  // (The calling thread's: the parallel loop below reaches it through this reference.)
  Mat<T>& logits = scratch<T>(kLogits);
  const TargetRows t(targets, N);
  const size_t K = t.size();
  const auto chunk_rows = Eigen::Index(std::min(rows_per_chunk, std::max<size_t>(K, 1)));
  if (logits.rows() < chunk_rows || logits.cols() != Eigen::Index(V)) logits.resize(chunk_rows, Eigen::Index(V));
  clear_untargeted(t, losses, dx, N, C);
  // d loss / d logit = logit_scale * (softmax - onehot) of the scaled logits, times the row's scale.
  const auto row_factor = [&](size_t r) { return (row_scale != nullptr ? row_scale[r] : scale) * logit_scale; };
  double total = 0;
  size_t count = 0;
  for (size_t k0 = 0; k0 < K; k0 += rows_per_chunk) {
    const size_t R = std::min(rows_per_chunk, K - k0);
    const T* xr = head_rows(t, x, k0, R, C);
    T* l = logits.data();
    const auto [chunk_total, chunk_count] =
        dx != nullptr ? head_chunk_forward<true>(l, losses, xr, wte, targets, t, k0, R, C, V, bias, predictions,
                                                 logit_scale, row_factor)
                      : head_chunk_forward<false>(l, losses, xr, wte, targets, t, k0, R, C, V, bias, predictions,
                                                  logit_scale, row_factor);
    total += chunk_total;
    count += chunk_count;
    if (dx != nullptr) head_chunk_backward(dx, dwte, dbias, l, xr, wte, targets, t, k0, R, C, V, row_factor);
  }
  *counted = count;
  return total;
}

template <class T>
size_t lm_head_keep(Buffer<T>& probs, T* losses, const T* x, const T* wte, const uint32_t* targets, size_t N, size_t C,
                    size_t V, T logit_scale) {
  const TargetRows t(targets, N);
  const size_t K = t.size();
  probs.resize(K * V);
  clear_untargeted(t, losses, static_cast<T*>(nullptr), N, C);
  const auto softmax = [](size_t) { return T(1); };
  for (size_t k0 = 0; k0 < K; k0 += kHeadRowsPerChunk) {
    const size_t R = std::min(kHeadRowsPerChunk, K - k0);
    head_chunk_forward<true>(probs.data() + k0 * V, losses, head_rows(t, x, k0, R, C), wte, targets, t, k0, R, C, V,
                       static_cast<const T*>(nullptr), nullptr, logit_scale, softmax);
  }
  return K;
}

template <class T>
void lm_head_kept_backward(T* dx, T* dwte, Buffer<T>& probs, const T* x, const T* wte, const uint32_t* targets,
                           const T* row_scale, size_t N, size_t C, size_t V, T logit_scale) {
  const TargetRows t(targets, N);
  const size_t K = t.size();
  if (probs.size() != K * V) throw Error("lm_head_kept_backward: not the rows lm_head_keep kept");
  if (!t.all) std::fill(dx, dx + N * C, T(0));
  const auto factor = [&](size_t r) { return row_scale[r] * logit_scale; };
  for (size_t k0 = 0; k0 < K; k0 += kHeadRowsPerChunk) {
    const size_t R = std::min(kHeadRowsPerChunk, K - k0);
    T* dl = probs.data() + k0 * V;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < R; ++i) ArrayMap<T>(dl + i * V, Eigen::Index(V)) *= factor(t.rows[k0 + i]);
    head_chunk_backward(dx, dwte, static_cast<T*>(nullptr), dl, head_rows(t, x, k0, R, C), wte, targets, t, k0, R, C,
                        V, factor);
  }
}

template <class T>
void lm_head_logits(T* out, const T* x, const T* wte, size_t R, size_t C, size_t V) {
  gemm(false, true, R, V, C, x, wte, T(0), out);
}

#define LMPIPE_INSTANTIATE_LAYERS(T)                                                                                  \
  template void embedding_forward<T>(T*, const uint32_t*, const T*, const T*, size_t, size_t, size_t, const uint32_t*); \
  template void embedding_backward<T>(T*, T*, const T*, const uint32_t*, size_t, size_t, size_t, const uint32_t*);  \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, size_t, size_t, T);                   \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, size_t, size_t); \
  template void linear_forward<T>(T*, const T*, const T*, const T*, size_t, size_t, size_t);                         \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, size_t, size_t, size_t);                \
  template void linear_residual_forward<T>(T*, const T*, const T*, const T*, const T*, size_t, size_t, size_t);      \
  template void gelu_forward<T>(T*, const T*, size_t, Gelu);                                                          \
  template void gelu_backward<T>(T*, const T*, const T*, const T*, size_t, Gelu);                                     \
  template void dropout_apply<T>(T*, size_t, T, uint64_t);                                                           \
  template void dropout_apply_rows<T>(T*, const uint32_t*, size_t, size_t, T, uint64_t);                             \
  template void attention_forward<T>(T*, T*, const T*, const AttentionMask&, size_t, size_t, size_t, size_t, T,      \
                                     uint64_t);                                                                      \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const T*, const AttentionMask&, size_t,       \
                                      size_t, size_t, size_t, T, uint64_t);                                          \
  template double lm_head_loss<T>(T*, T*, T*, const T*, const T*, const uint32_t*, size_t, size_t, size_t, T, size_t*, \
                                  size_t, const T*, T*, uint32_t*, const T*, T);                                               \
  template size_t lm_head_keep<T>(Buffer<T>&, T*, const T*, const T*, const uint32_t*, size_t, size_t, size_t, T);  \
  template void lm_head_kept_backward<T>(T*, T*, Buffer<T>&, const T*, const T*, const uint32_t*, const T*, size_t,  \
                                         size_t, size_t, T);                                                          \
  template void linear_t_forward<T>(T*, const T*, const T*, const T*, size_t, size_t, size_t);                       \
  template void linear_t_backward<T>(T*, T*, T*, const T*, const T*, const T*, size_t, size_t, size_t);              \
  template void lm_head_logits<T>(T*, const T*, const T*, size_t, size_t, size_t);                                \
  template void attention_cached_forward<T>(T*, const T*, size_t, const T*, const T*, size_t, size_t, size_t, size_t);

LMPIPE_INSTANTIATE_LAYERS(float)
LMPIPE_INSTANTIATE_LAYERS(double)

}  // namespace lmpipe::nn
