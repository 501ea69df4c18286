#pragma once
// A sum over a large range on the OpenMP team: contiguous blocks per thread, each block summed in SIMD
// lanes. Written out rather than as `omp parallel for simd reduction`: clang 14 miscompiles that combined
// construct at -O1 and under AddressSanitizer (it adds up every second or fourth element).
#include <algorithm>
#include <cstddef>

namespace lmpipe::nn {

// The sum over i in [0, n) of term(i), in double. term may also write at i (one pass that updates and sums).
template <class Term>
double parallel_sum(size_t n, const Term& term) {
  constexpr size_t kBlock = 4096;
  double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t end = std::min(n, start + kBlock);
    double part = 0;
#pragma omp simd reduction(+ : part)
    for (size_t i = start; i < end; ++i) part += term(i);
    sum += part;
  }
  return sum;
}

}  // namespace lmpipe::nn
