#include "nn/layers.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Dense>
#include <unsupported/Eigen/SpecialFunctions>  // Eigen arrays' SIMD erf

namespace lmpipe::nn {
namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatMap = Eigen::Map<Mat<T>>;
template <class T>
using ConstMatMap = Eigen::Map<const Mat<T>>;
template <class T>
using StridedMap = Eigen::Map<Mat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using ConstStridedMap = Eigen::Map<const Mat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using RowVec = Eigen::Matrix<T, 1, Eigen::Dynamic>;

// Per-thread scratch matrices for the attention loops (one (batch, head) at a time per thread).
template <class T>
Mat<T>& scratch(int which) {
  thread_local Mat<T> buffers[3];
  return buffers[which];
}

inline bool allowed(bool causal, const uint8_t* key_mask, size_t b, size_t Tn, size_t t, size_t j) {
  return (!causal || j <= t) && (key_mask == nullptr || key_mask[b * Tn + j] != 0);
}

// Attention row t of sequence b: the keys it may see are a prefix [0, t] when causal (all Tn otherwise),
// minus padding. Returns the prefix length; entries past it and masked ones are set to 0 by callers.
inline size_t visible_keys(bool causal, size_t Tn, size_t t) { return causal ? t + 1 : Tn; }

// Replaces row s (scores, Tn wide) by exp(s - shift) over the visible keys and 0 elsewhere, with Eigen's
// vectorised exp; returns the sum. Masked keys are zeroed after the exp (Eigen's exp of -inf is a
// denormal, not 0).
template <class T>
T exp_row(T* s, T shift, bool causal, const uint8_t* key_mask, size_t b, size_t Tn, size_t t) {
  const size_t n = visible_keys(causal, Tn, t);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> row(s, Eigen::Index(n));
  row = (row - shift).exp();
  std::fill(s + n, s + Tn, T(0));
  if (key_mask != nullptr)
    for (size_t j = 0; j < n; ++j)
      if (key_mask[b * Tn + j] == 0) s[j] = T(0);
  return row.sum();
}

// Elementwise loops shorter than this run on one thread: waking a passively waiting thread team costs
// tens of microseconds, more than the work (a generated token's layer norms and GELUs are one row).
constexpr size_t kParallelMin = size_t(1) << 15;

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

// Applies the dropout mask of rows [0, Tn) of one (batch, head) probability matrix in place.
template <class T>
void drop_probabilities(T* p, size_t Tn, size_t bh, T dropout, uint64_t key) {
  const uint64_t threshold = drop_threshold(dropout);
  const T keep_scale = T(1) / (T(1) - dropout);
  for (size_t i = 0; i < Tn * Tn; ++i) p[i] = kept(key, bh * Tn * Tn + i, threshold) ? p[i] * keep_scale : T(0);
}

}  // namespace

template <class T>
void embedding_forward(T* out, const uint32_t* tokens, const T* wte, const T* wpe, size_t N, size_t Tn, size_t C) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; ++n) {
    const T* w = wte + size_t(tokens[n]) * C;
    const T* p = wpe + (n % Tn) * C;
    T* o = out + n * C;
    for (size_t c = 0; c < C; ++c) o[c] = w[c] + p[c];
  }
}

template <class T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const uint32_t* tokens, size_t N, size_t Tn, size_t C) {
  // Serial over rows: two rows with the same token add to the same embedding row.
  for (size_t n = 0; n < N; ++n) {
    T* w = dwte + size_t(tokens[n]) * C;
    T* p = dwpe + (n % Tn) * C;
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
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* weight, const T* bias, size_t N, size_t C,
                       T eps) {
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
  for (size_t n = 0; n < N; ++n) {
    const T* x = inp + n * C;
    T m = 0;
    for (size_t c = 0; c < C; ++c) m += x[c];
    m /= T(C);
    T v = 0;
    for (size_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    const T s = T(1) / std::sqrt(v / T(C) + eps);
    T* o = out + n * C;
    for (size_t c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

template <class T>
void layernorm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, const T* mean,
                        const T* rstd, size_t N, size_t C) {
#pragma omp parallel
  {
    std::vector<T> dw(C, T(0)), db(C, T(0));  // this thread's share of the parameter gradients
#pragma omp for schedule(static)
    for (size_t n = 0; n < N; ++n) {
      const T* x = inp + n * C;
      const T* d = dout + n * C;
      const T m = mean[n], s = rstd[n];
      T dnorm_mean = 0, dnorm_norm_mean = 0;
      for (size_t c = 0; c < C; ++c) {
        const T norm = (x[c] - m) * s;
        const T dnorm = d[c] * weight[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
        dw[c] += d[c] * norm;
        db[c] += d[c];
      }
      dnorm_mean /= T(C);
      dnorm_norm_mean /= T(C);
      T* di = dinp + n * C;
      for (size_t c = 0; c < C; ++c) {
        const T norm = (x[c] - m) * s;
        di[c] = (d[c] * weight[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
      }
    }
#pragma omp critical
    for (size_t c = 0; c < C; ++c) {
      dweight[c] += dw[c];
      dbias[c] += db[c];
    }
  }
}

template <class T>
void linear_forward(T* out, const T* inp, const T* weight, const T* bias, size_t N, size_t C, size_t OC) {
  MatMap<T> o(out, Eigen::Index(N), Eigen::Index(OC));
  o.noalias() = ConstMatMap<T>(inp, Eigen::Index(N), Eigen::Index(C)) * ConstMatMap<T>(weight, Eigen::Index(C), Eigen::Index(OC));
  if (bias != nullptr) o.rowwise() += Eigen::Map<const RowVec<T>>(bias, Eigen::Index(OC));
}

template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, size_t N, size_t C,
                     size_t OC) {
  const ConstMatMap<T> d(dout, Eigen::Index(N), Eigen::Index(OC));
  const ConstMatMap<T> w(weight, Eigen::Index(C), Eigen::Index(OC));
  MatMap<T>(dinp, Eigen::Index(N), Eigen::Index(C)).noalias() = d * w.transpose();
  MatMap<T>(dweight, Eigen::Index(C), Eigen::Index(OC)).noalias() +=
      ConstMatMap<T>(inp, Eigen::Index(N), Eigen::Index(C)).transpose() * d;
  if (dbias != nullptr) Eigen::Map<RowVec<T>>(dbias, Eigen::Index(OC)) += d.colwise().sum();
}

template <class T>
void linear_t_forward(T* out, const T* inp, const T* weight, const T* bias, size_t N, size_t C, size_t OC) {
  MatMap<T> o(out, Eigen::Index(N), Eigen::Index(OC));
  o.noalias() = ConstMatMap<T>(inp, Eigen::Index(N), Eigen::Index(C)) *
                ConstMatMap<T>(weight, Eigen::Index(OC), Eigen::Index(C)).transpose();
  if (bias != nullptr) o.rowwise() += Eigen::Map<const RowVec<T>>(bias, Eigen::Index(OC));
}

template <class T>
void linear_t_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight, size_t N, size_t C,
                       size_t OC) {
  const ConstMatMap<T> d(dout, Eigen::Index(N), Eigen::Index(OC));
  MatMap<T>(dinp, Eigen::Index(N), Eigen::Index(C)).noalias() = d * ConstMatMap<T>(weight, Eigen::Index(OC), Eigen::Index(C));
  MatMap<T>(dweight, Eigen::Index(OC), Eigen::Index(C)).noalias() +=
      d.transpose() * ConstMatMap<T>(inp, Eigen::Index(N), Eigen::Index(C));
  if (dbias != nullptr) Eigen::Map<RowVec<T>>(dbias, Eigen::Index(OC)) += d.colwise().sum();
}

namespace {
constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kSqrtHalf = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;
}

// Elementwise work goes through Eigen arrays in blocks: Eigen has SIMD exp, tanh and erf, where libm's
// are scalar calls (they were a third of a training step).
constexpr size_t kBlock = 4096;

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class T>
void gelu_forward(T* out, const T* inp, size_t n, Gelu kind) {
  if (kind == Gelu::kTanh) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m);
      ArrayMap<T>(out + b, m) = T(0.5) * x * (T(1) + (T(kSqrt2OverPi) * (x + T(0.044715) * x.cube())).tanh());
    }
  } else {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m);
      ArrayMap<T>(out + b, m) = T(0.5) * x * (T(1) + (x * T(kSqrtHalf)).erf());
    }
  }
}

template <class T>
void gelu_backward(T* dinp, const T* dout, const T* inp, size_t n, Gelu kind) {
  if (kind == Gelu::kTanh) {
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m), d(dout + b, m);
      const Eigen::Array<T, Eigen::Dynamic, 1> th = (T(kSqrt2OverPi) * (x + T(0.044715) * x.cube())).tanh();
      ArrayMap<T>(dinp + b, m) =
          d * (T(0.5) * (T(1) + th) +
               T(0.5) * x * (T(1) - th.square()) * T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x.square()));
    }
  } else {
    // d/dx x Phi(x) = Phi(x) + x phi(x).
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t b = 0; b < n; b += kBlock) {
      const auto m = Eigen::Index(std::min(kBlock, n - b));
      const ConstArrayMap<T> x(inp + b, m), d(dout + b, m);
      ArrayMap<T>(dinp + b, m) =
          d * (T(0.5) * (T(1) + (x * T(kSqrtHalf)).erf()) + x * (T(-0.5) * x.square()).exp() * T(kInvSqrt2Pi));
    }
  }
}

template <class T>
void attention_forward(T* out, T* lse, const T* qkv, const uint8_t* key_mask, size_t B, size_t Tn, size_t C,
                       size_t NH, bool causal, T dropout, uint64_t dropout_key) {
  const size_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  const auto rows = Eigen::Index(Tn), cols = Eigen::Index(hs);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t bh = 0; bh < B * NH; ++bh) {
    const size_t b = bh / NH, h = bh % NH;
    const T* base = qkv + b * Tn * 3 * C + h * hs;
    const ConstStridedMap<T> q(base, rows, cols, Eigen::OuterStride<>(Eigen::Index(3 * C)));
    const ConstStridedMap<T> k(base + C, rows, cols, Eigen::OuterStride<>(Eigen::Index(3 * C)));
    const ConstStridedMap<T> v(base + 2 * C, rows, cols, Eigen::OuterStride<>(Eigen::Index(3 * C)));
    Mat<T>& p = scratch<T>(0);
    p.resize(rows, rows);
    p.noalias() = (q * k.transpose()) * scale;
    T* row_lse = lse + bh * Tn;
    for (size_t t = 0; t < Tn; ++t) {
      T* s = p.data() + t * Tn;
      T m = -std::numeric_limits<T>::infinity();
      for (size_t j = 0; j < visible_keys(causal, Tn, t); ++j)
        if (allowed(causal, key_mask, b, Tn, t, j)) m = std::max(m, s[j]);
      if (m == -std::numeric_limits<T>::infinity()) {  // nothing to attend to (all padding): output zeros
        std::fill(s, s + Tn, T(0));
        row_lse[t] = T(0);
        continue;
      }
      const T sum = exp_row(s, m, causal, key_mask, b, Tn, t);
      const T inv = T(1) / sum;
      for (size_t j = 0; j < Tn; ++j) s[j] *= inv;
      row_lse[t] = m + std::log(sum);
    }
    if (dropout > T(0)) drop_probabilities(p.data(), Tn, bh, dropout, dropout_key);
    StridedMap<T>(out + b * Tn * C + h * hs, rows, cols, Eigen::OuterStride<>(Eigen::Index(C))).noalias() = p * v;
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, const uint8_t* key_mask,
                        size_t B, size_t Tn, size_t C, size_t NH, bool causal, T dropout, uint64_t dropout_key) {
  const size_t hs = C / NH;
  const T scale = T(1) / std::sqrt(T(hs));
  const auto rows = Eigen::Index(Tn), cols = Eigen::Index(hs);
  const Eigen::OuterStride<> qkv_stride{Eigen::Index(3 * C)}, stride{Eigen::Index(C)};
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t bh = 0; bh < B * NH; ++bh) {
    const size_t b = bh / NH, h = bh % NH;
    const T* base = qkv + b * Tn * 3 * C + h * hs;
    const ConstStridedMap<T> q(base, rows, cols, qkv_stride), k(base + C, rows, cols, qkv_stride),
        v(base + 2 * C, rows, cols, qkv_stride);
    const ConstStridedMap<T> o(out + b * Tn * C + h * hs, rows, cols, stride);
    const ConstStridedMap<T> d_o(dout + b * Tn * C + h * hs, rows, cols, stride);
    T* dbase = dqkv + b * Tn * 3 * C + h * hs;
    StridedMap<T> dq(dbase, rows, cols, qkv_stride), dk(dbase + C, rows, cols, qkv_stride),
        dv(dbase + 2 * C, rows, cols, qkv_stride);
    // Probabilities again, from the saved log-sum-exp.
    Mat<T>& p = scratch<T>(0);
    p.resize(rows, rows);
    p.noalias() = (q * k.transpose()) * scale;
    const T* row_lse = lse + bh * Tn;
    for (size_t t = 0; t < Tn; ++t) {
      T* s = p.data() + t * Tn;
      exp_row(s, row_lse[t], causal, key_mask, b, Tn, t);
    }
    Mat<T>& ds = scratch<T>(1);
    ds.resize(rows, rows);
    ds.noalias() = d_o * v.transpose();  // the gradient of the probabilities after dropout
    if (dropout > T(0)) {
      // Forward multiplied P by the mask M / (1 - p): V's gradient sees the dropped P, and the
      // probabilities' gradient goes back through the same mask.
      Mat<T>& dropped = scratch<T>(2);
      dropped = p;
      drop_probabilities(dropped.data(), Tn, bh, dropout, dropout_key);
      dv.noalias() = dropped.transpose() * d_o;
      drop_probabilities(ds.data(), Tn, bh, dropout, dropout_key);
    } else {
      dv.noalias() = p.transpose() * d_o;
    }
    for (size_t t = 0; t < Tn; ++t) {
      const T dot = d_o.row(Eigen::Index(t)).dot(o.row(Eigen::Index(t)));
      T* dsr = ds.data() + t * Tn;
      const T* pr = p.data() + t * Tn;
      for (size_t j = 0; j < Tn; ++j) dsr[j] = pr[j] * (dsr[j] - dot) * scale;
    }
    dq.noalias() = ds * k;
    dk.noalias() = ds.transpose() * q;
  }
}

template <class T>
void attention_cached_forward(T* out, const T* q, size_t q_stride, const T* kcache, const T* vcache, size_t P,
                              size_t R, size_t C, size_t NH) {
  const size_t hs = C / NH, S = P + R;
  const T scale = T(1) / std::sqrt(T(hs));
  using Vec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
  // Heads in parallel only when there is enough work: one new token against a short cache is a few
  // microseconds, less than waking the thread team.
#pragma omp parallel for schedule(static) if (R * S * C >= (size_t(1) << 18))
  for (size_t h = 0; h < NH; ++h) {
    if (R == 1) {
      // A generated token: a dot product per cached key and a weighted sum of cached values, each a
      // contiguous row. Written out: as Eigen products these small matrix-vector products went to
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
    Mat<T>& p = scratch<T>(0);
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

template <class T>
double lm_head_loss(T* dx, T* dwte, T* losses, const T* x, const T* wte, const uint32_t* targets, size_t N, size_t C,
                    size_t V, T scale, size_t* counted, size_t rows_per_chunk, const T* bias, T* dbias,
                    uint32_t* predictions) {
  const ConstMatMap<T> w(wte, Eigen::Index(V), Eigen::Index(C));
  Mat<T> logits(Eigen::Index(std::min(rows_per_chunk, N)), Eigen::Index(V));
  double total = 0;
  size_t count = 0;
  for (size_t r0 = 0; r0 < N; r0 += rows_per_chunk) {
    const size_t R = std::min(rows_per_chunk, N - r0);
    auto l = logits.topRows(Eigen::Index(R));
    const ConstMatMap<T> xr(x + r0 * C, Eigen::Index(R), Eigen::Index(C));
    l.noalias() = xr * w.transpose();
    if (bias != nullptr) l.rowwise() += Eigen::Map<const RowVec<T>>(bias, Eigen::Index(V));
    double chunk_total = 0;
    size_t chunk_count = 0;
#pragma omp parallel for schedule(static) reduction(+ : chunk_total, chunk_count)
    for (size_t r = 0; r < R; ++r) {
      T* row = logits.data() + r * V;
      const uint32_t target = targets[r0 + r];
      if (target == kIgnore) {
        losses[r0 + r] = T(0);
        if (dx != nullptr) std::fill(row, row + V, T(0));
        continue;
      }
      ArrayMap<T> logit(row, Eigen::Index(V));
      Eigen::Index best = 0;
      const T m = logit.maxCoeff(&best);
      if (predictions != nullptr) predictions[r0 + r] = uint32_t(best);
      const T log_sum = m + std::log((logit - m).exp().sum());
      const T loss = log_sum - row[target];
      losses[r0 + r] = loss;
      chunk_total += double(loss);
      ++chunk_count;
      if (dx != nullptr) {
        logit = (logit - log_sum).exp() * scale;  // softmax, scaled
        row[target] -= scale;
      }
    }
    total += chunk_total;
    count += chunk_count;
    if (dx != nullptr) {
      MatMap<T>(dx + r0 * C, Eigen::Index(R), Eigen::Index(C)).noalias() = l * w;
      MatMap<T>(dwte, Eigen::Index(V), Eigen::Index(C)).noalias() += l.transpose() * xr;
      if (dbias != nullptr) Eigen::Map<RowVec<T>>(dbias, Eigen::Index(V)) += l.colwise().sum();
    }
  }
  *counted = count;
  return total;
}

template <class T>
void lm_head_logits(T* out, const T* x, const T* wte, size_t R, size_t C, size_t V) {
  MatMap<T>(out, Eigen::Index(R), Eigen::Index(V)).noalias() =
      ConstMatMap<T>(x, Eigen::Index(R), Eigen::Index(C)) * ConstMatMap<T>(wte, Eigen::Index(V), Eigen::Index(C)).transpose();
}

#define LMPIPE_INSTANTIATE_LAYERS(T)                                                                                  \
  template void embedding_forward<T>(T*, const uint32_t*, const T*, const T*, size_t, size_t, size_t);               \
  template void embedding_backward<T>(T*, T*, const T*, const uint32_t*, size_t, size_t, size_t);                    \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, size_t, size_t, T);                   \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, size_t, size_t); \
  template void linear_forward<T>(T*, const T*, const T*, const T*, size_t, size_t, size_t);                         \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, size_t, size_t, size_t);                \
  template void gelu_forward<T>(T*, const T*, size_t, Gelu);                                                          \
  template void gelu_backward<T>(T*, const T*, const T*, size_t, Gelu);                                               \
  template void dropout_apply<T>(T*, size_t, T, uint64_t);                                                           \
  template void attention_forward<T>(T*, T*, const T*, const uint8_t*, size_t, size_t, size_t, size_t, bool, T,        \
                                     uint64_t);                                                                      \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const T*, const uint8_t*, size_t, size_t,     \
                                      size_t, size_t, bool, T, uint64_t);                                            \
  template double lm_head_loss<T>(T*, T*, T*, const T*, const T*, const uint32_t*, size_t, size_t, size_t, T, size_t*, \
                                  size_t, const T*, T*, uint32_t*);                                                            \
  template void linear_t_forward<T>(T*, const T*, const T*, const T*, size_t, size_t, size_t);                       \
  template void linear_t_backward<T>(T*, T*, T*, const T*, const T*, const T*, size_t, size_t, size_t);              \
  template void lm_head_logits<T>(T*, const T*, const T*, size_t, size_t, size_t);                                \
  template void attention_cached_forward<T>(T*, const T*, size_t, const T*, const T*, size_t, size_t, size_t, size_t);

LMPIPE_INSTANTIATE_LAYERS(float)
LMPIPE_INSTANTIATE_LAYERS(double)

}  // namespace lmpipe::nn
