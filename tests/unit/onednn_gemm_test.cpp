// oneDNN's products (nn/onednn_gemm.h): fp32 products of few rows against the exact sums; bf16 rounding, the
// bf16 products against fp32 within bf16's error bound, weights read from a Bf16Copy, and a GPT training
// step's loss and gradients against fp32's. The bf16 products need AVX512-BF16; where the CPU lacks it the
// refusal is what is tested.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "core/error.h"
#include "nn/gpt.h"
#include "nn/onednn_gemm.h"

using namespace lmpipe;
using namespace lmpipe::nn;

namespace {

// The bf16 products on for a scope.
struct Bf16Products {
  Bf16Products() { set_bf16_products(true); }
  ~Bf16Products() { set_bf16_products(false); }
};

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// op(X)[r, c] of a row-major X with row stride ld, stored transposed when t.
float at(const std::vector<float>& x, bool t, size_t ld, size_t r, size_t c) { return t ? x[c * ld + r] : x[r * ld + c]; }

}  // namespace

TEST_CASE("fp32 products of few rows: every transpose, stride, alpha and beta, as sgemm computes them") {
  for (const size_t M : {size_t(1), size_t(5), kFewRows - 1}) {
    const size_t N = 41, K = 300, pad = 2;  // K long enough that fp32 sums round
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 1.0f, 0.5f}) {
          CAPTURE(M);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(beta);
          const size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
          const std::vector<float> A = random_floats((ta ? K : M) * lda, 7), B = random_floats((tb ? N : K) * ldb, 8);
          const std::vector<float> C0 = random_floats(M * ldc, 9);
          std::vector<float> C = C0;
          gemm_f32_few_rows(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          double worst = 0;
          for (size_t i = 0; i < M; ++i)
            for (size_t j = 0; j < N; ++j) {
              double exact = 0, magnitude = 0;
              for (size_t k = 0; k < K; ++k) {
                exact += double(at(A, ta, lda, i, k)) * at(B, tb, ldb, k, j);
                magnitude += std::abs(double(at(A, ta, lda, i, k)) * at(B, tb, ldb, k, j));
              }
              const double want = 0.5 * exact + beta * double(C0[i * ldc + j]);
              worst = std::max(worst, std::abs(C[i * ldc + j] - want) / (0.5 * magnitude + std::abs(C0[i * ldc + j])));
            }
          CHECK(worst < 1e-5);  // fp32 sums of 300 terms
          for (size_t i = 0; i < M; ++i)
            for (size_t j = N; j < ldc; ++j) CHECK(C[i * ldc + j] == C0[i * ldc + j]);
          // The same shape again (the kept primitive) gives the same bits.
          std::vector<float> again = C0;
          gemm_f32_few_rows(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, again.data(), ldc);
          CHECK(again == C);
        }
  }
  // No products to sum: C = beta C.
  std::vector<float> C = {1.0f, 2.0f};
  gemm_f32_few_rows(false, false, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, C.data(), 2);
  CHECK(C == std::vector<float>{0.5f, 1.0f});
}

TEST_CASE("bf16 rounding: nearest, ties to even, NaN stays NaN") {
  CHECK(to_bf16(1.0f) == 0x3f80);
  CHECK(from_bf16(0x3f80) == 1.0f);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1. 1 + 3 * 2^-8: up to 1 + 2^-6.
  CHECK(to_bf16(1.0f + 0x1p-8f) == 0x3f80);
  CHECK(to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);
  CHECK(to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);  // past halfway: up
  CHECK(to_bf16(-2.5f) == 0xc020);
  CHECK(to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80);
  CHECK(std::isnan(from_bf16(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isnan(from_bf16(to_bf16(std::bit_cast<float>(0x7f800001u)))));  // a NaN that rounding would make inf
  CHECK(to_bf16(std::numeric_limits<float>::max()) == 0x7f80);                // past bf16's largest: inf, as torch
  // The array form gives the same bits as the scalar one.
  const std::vector<float> x = random_floats(1000, 1, 1e3f);
  std::vector<bf16> y(x.size());
  to_bf16(x.data(), y.data(), x.size());
  size_t same = 0;
  for (size_t i = 0; i < x.size(); ++i) same += y[i] == to_bf16(x[i]);
  CHECK(same == x.size());
}

TEST_CASE("bf16 products: fp32's within bf16's bound, the rounded operands' exactly up to fp32 sums") {
  if (const std::string why = bf16_unavailable_reason(); !why.empty()) {
    MESSAGE("bf16 products not tested: " << why);
    CHECK_THROWS_AS(set_bf16_products(true), Error);
    CHECK(!bf16_products());
    return;
  }
  const size_t M = 37, N = 29, K = 70, pad = 3;  // odd sizes; operands in rows wider than they are
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(beta);
        const size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
        const std::vector<float> A = random_floats((ta ? K : M) * lda, 2), B = random_floats((tb ? N : K) * ldb, 3);
        const std::vector<float> C0 = random_floats(M * ldc, 4);
        std::vector<float> C = C0;
        {
          Bf16Products on;
          gemm_bf16(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
        }
        double worst_exact = 0, worst_bound = 0;
        for (size_t i = 0; i < M; ++i)
          for (size_t j = 0; j < N; ++j) {
            double rounded = 0, exact = 0, magnitude = 0;
            for (size_t k = 0; k < K; ++k) {
              const float a = at(A, ta, lda, i, k), b = at(B, tb, ldb, k, j);
              rounded += double(from_bf16(to_bf16(a))) * from_bf16(to_bf16(b));
              exact += double(a) * b;
              magnitude += std::abs(double(a) * b);
            }
            const double base = beta * C0[i * ldc + j];
            const double got = C[i * ldc + j];
            // Products of bf16 numbers are exact in fp32; only the fp32 sums round.
            worst_exact = std::max(worst_exact, std::abs(got - (0.5 * rounded + base)) / (0.5 * magnitude + 1e-30));
            // Each operand is off by at most 2^-9 of itself.
            worst_bound = std::max(worst_bound, std::abs(got - (0.5 * exact + base)) / (0.5 * magnitude * 2 * 0x1p-9));
          }
        CHECK(worst_exact < 1e-5);
        CHECK(worst_bound <= 1.0);
        // Off C's columns, nothing is written.
        for (size_t i = 0; i < M; ++i)
          for (size_t j = N; j < ldc; ++j) CHECK(C[i * ldc + j] == C0[i * ldc + j]);
      }
}

TEST_CASE("bf16 products: an operand in a Bf16Copy is read from it, on any thread") {
  if (!bf16_unavailable_reason().empty()) return;  // the test above says why
  const size_t M = 8, N = 300, K = 64;
  std::vector<float> weights = random_floats(N * K + 10, 5);
  const std::vector<float> x = random_floats(M * K, 6);
  const float* W = weights.data() + 10;  // inside the copied buffer, not at its start
  std::vector<float> converted(M * N), copied(M * N), stale(M * N);
  Bf16Products on;
  gemm_bf16(false, true, M, N, K, 1.0f, x.data(), K, W, K, 0.0f, converted.data(), N);
  {
    Bf16Copy copy(weights.data(), weights.size());
    std::vector<std::vector<float>> per_thread(3, std::vector<float>(M * N));
    std::vector<std::thread> threads;
    for (auto& c : per_thread)
      threads.emplace_back([&] { gemm_bf16(false, true, M, N, K, 1.0f, x.data(), K, W, K, 0.0f, c.data(), N); });
    for (auto& t : threads) t.join();
    for (const auto& c : per_thread) CHECK(c == converted);
    // The copy is what is read: a change to the weights shows only after refresh().
    weights[10] += 1.0f;
    gemm_bf16(false, true, M, N, K, 1.0f, x.data(), K, W, K, 0.0f, stale.data(), N);
    CHECK(stale == converted);
    copy.refresh();
    gemm_bf16(false, true, M, N, K, 1.0f, x.data(), K, W, K, 0.0f, copied.data(), N);
    CHECK(copied != converted);
  }
  // The copy gone, the operand is converted again, with the change.
  std::vector<float> after(M * N);
  gemm_bf16(false, true, M, N, K, 1.0f, x.data(), K, W, K, 0.0f, after.data(), N);
  CHECK(after == copied);
}

TEST_CASE("a GPT step with bf16 products: loss and gradients near fp32's") {
  if (!bf16_unavailable_reason().empty()) return;
  GptConfig c;
  c.vocab_size = 300;
  c.max_len = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 64;
  c.d_ff = 256;
  const size_t B = 4, T = 32;
  std::mt19937 rng(7);
  std::vector<uint32_t> inputs(B * T), targets(B * T);
  for (size_t i = 0; i < B * T; ++i) inputs[i] = uint32_t(rng() % c.vocab_size), targets[i] = uint32_t(rng() % 50);
  Gpt<float> model(c);
  model.init(3);
  model.zero_grad();
  const double loss32 = model.forward_backward(inputs.data(), targets.data(), B, T);
  const std::vector<float> grads32(model.grads().begin(), model.grads().end());
  model.zero_grad();
  double loss16 = 0;
  {
    Bf16Products on;
    Bf16Copy weights(model.params().data(), model.params().size());
    loss16 = model.forward_backward(inputs.data(), targets.data(), B, T);
  }
  CHECK(loss16 != loss32);  // the products did run in bf16
  CHECK(std::abs(loss16 - loss32) < 1e-3 * loss32);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < grads32.size(); ++i) {
    const double d = double(model.grads()[i]) - grads32[i];
    diff += d * d;
    norm += double(grads32[i]) * grads32[i];
  }
  CHECK(std::sqrt(diff / norm) < 0.01);  // the gradient's relative error (0.3% here): bf16's 2^-9 per operand
}
