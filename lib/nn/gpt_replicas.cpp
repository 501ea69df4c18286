#include "nn/gpt_replicas.h"

#include <omp.h>

#include <algorithm>
#include <exception>

#include "core/error.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "nn/parallel_sum.h"

namespace lmpipe::nn {

template <class T>
GptReplicas<T>::GptReplicas(Gpt<T>& model, size_t threads) : model_(model) {
  for (size_t t = 1; t < threads; ++t) replicas_.push_back(Gpt<T>::replica_of(model));
}

template <class T>
void GptReplicas<T>::run_shares(size_t B, size_t unit, const std::function<void(Gpt<T>&, size_t, size_t)>& run) {
  if (unit == 0 || B % unit != 0) throw Error("GptReplicas::run_shares: the batch is not whole units");
  const size_t units = B / unit, shares = std::min(threads(), units);
  if (shares <= 1) {
    model_.set_dropout_key(dropout_key_);
    return run(model_, 0, B);
  }
  std::vector<std::exception_ptr> errors(shares);
  // One replica per share, so a thread given two shares (OMP_DYNAMIC, a thread limit) still computes right.
#pragma omp parallel for schedule(static, 1) num_threads(int(shares))
  for (size_t s = 0; s < shares; ++s) {
    try {
      Gpt<T>& replica = s == 0 ? model_ : *replicas_[s - 1];
      uint64_t key_state = dropout_key_ ^ (s * 0xD1B54A32D192ED03ULL);
      replica.set_dropout_key(s == 0 ? dropout_key_ : splitmix64(key_state));
      const size_t first = units * s / shares * unit, end = units * (s + 1) / shares * unit;
      run(replica, first, end - first);
    } catch (...) {
      errors[s] = std::current_exception();  // an exception may not leave a parallel region
    }
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// run(replica, first sequence, sequences, weight) on each share of the B sequences, a share per thread;
// weight is the share's fraction of the counted targets, so the weighted sum of the shares' mean losses
// (returned) is the batch's mean loss.
template <class T>
template <class Run>
double GptReplicas<T>::split(const uint32_t* targets, size_t B, size_t Tn, const Run& run) {
  const size_t shares = std::min(threads(), B);
  if (shares <= 1) {
    model_.set_dropout_key(dropout_key_);
    return run(model_, 0, B, 1.0);
  }
  std::vector<size_t> first(shares + 1), counted(shares, 0);
  size_t total = 0;
  for (size_t s = 0; s <= shares; ++s) first[s] = B * s / shares;
  for (size_t s = 0; s < shares; ++s) {
    counted[s] = size_t(std::count_if(targets + first[s] * Tn, targets + first[s + 1] * Tn,
                                      [](uint32_t t) { return t != kIgnore; }));
    total += counted[s];
  }
  std::vector<double> losses(shares, 0.0);
  run_shares(B, 1, [&](Gpt<T>& replica, size_t b0, size_t n) {
    const size_t s = size_t(std::upper_bound(first.begin(), first.end(), b0) - first.begin()) - 1;
    const double weight = total ? double(counted[s]) / double(total) : 0.0;
    losses[s] = weight * run(replica, b0, n, weight);
  });
  double loss = 0;
  for (double l : losses) loss += l;
  return loss;
}

template <class T>
double GptReplicas<T>::forward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn,
                               const uint32_t* positions) {
  return split(targets, B, Tn, [&](Gpt<T>& m, size_t b0, size_t n, double) {
    return m.forward(inputs + b0 * Tn, targets + b0 * Tn, n, Tn, positions ? positions + b0 * Tn : nullptr);
  });
}

template <class T>
double GptReplicas<T>::forward_backward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn,
                                        T grad_scale, const uint32_t* positions) {
  return split(targets, B, Tn, [&](Gpt<T>& m, size_t b0, size_t n, double weight) {
    return m.forward_backward(inputs + b0 * Tn, targets + b0 * Tn, n, Tn, T(double(grad_scale) * weight),
                              positions ? positions + b0 * Tn : nullptr);
  });
}

template <class T>
double GptReplicas<T>::reduce_grads() {
  T* to = model_.grads().data();
  const size_t n = model_.grads().size();
  if (replicas_.empty()) return parallel_sum(n, [to](size_t i) { return double(to[i]) * double(to[i]); });
  // All but the last replica added in; the last one's pass also squares the sums.
  for (size_t r = 0; r + 1 < replicas_.size(); ++r) {
    T* from = replicas_[r]->grads().data();
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; ++i) {
      to[i] += from[i];
      from[i] = T(0);
    }
  }
  T* from = replicas_.back()->grads().data();
  return parallel_sum(n, [to, from](size_t i) {
    to[i] += from[i];
    from[i] = T(0);
    return double(to[i]) * double(to[i]);
  });
}

template class GptReplicas<float>;
template class GptReplicas<double>;

}  // namespace lmpipe::nn
