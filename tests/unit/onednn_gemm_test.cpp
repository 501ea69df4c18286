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

// A product's random operands, stored transposed or not, in rows pad wider than they are, and C's start.
struct Operands {
  size_t M, N, K, lda, ldb, ldc;
  bool ta, tb;
  std::vector<float> A, B, C0;
  Operands(size_t m, size_t n, size_t k, size_t pad, bool a_t, bool b_t, uint32_t seed)
      : M(m), N(n), K(k), lda((a_t ? m : k) + pad), ldb((b_t ? k : n) + pad), ldc(n + pad), ta(a_t), tb(b_t),
        A(random_floats((a_t ? k : m) * lda, seed)), B(random_floats((b_t ? n : k) * ldb, seed + 1)),
        C0(random_floats(m * ldc, seed + 2)) {}
  // sum_k f(op(A)[i, k], op(B)[k, j]) in double.
  template <class F>
  double sum(size_t i, size_t j, F f) const {
    double total = 0;
    for (size_t k = 0; k < K; ++k) total += f(at(A, ta, lda, i, k), at(B, tb, ldb, k, j));
    return total;
  }
  // C's columns past N are as they started.
  bool padding_untouched(const std::vector<float>& C) const {
    for (size_t i = 0; i < M; ++i)
      for (size_t j = N; j < ldc; ++j)
        if (C[i * ldc + j] != C0[i * ldc + j]) return false;
    return true;
  }
};

double product(float a, float b) { return double(a) * b; }
double magnitude(float a, float b) { return std::abs(double(a) * b); }

}  // namespace

TEST_CASE("fp32 products of few rows: every transpose, stride, alpha and beta, as sgemm computes them") {
  for (const size_t M : {size_t(1), size_t(5), kFewRows - 1})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 1.0f, 0.5f}) {
          CAPTURE(M);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(beta);
          const Operands o(M, 41, 300, 2, ta, tb, 7);  // K long enough that fp32 sums round
          std::vector<float> C = o.C0;
          gemm_f32_few_rows(ta, tb, M, o.N, o.K, 0.5f, o.A.data(), o.lda, o.B.data(), o.ldb, beta, C.data(), o.ldc);
          double worst = 0;
          for (size_t i = 0; i < M; ++i)
            for (size_t j = 0; j < o.N; ++j) {
              const double start = o.C0[i * o.ldc + j];
              const double want = 0.5 * o.sum(i, j, product) + beta * start;
              const double size = 0.5 * o.sum(i, j, magnitude) + std::abs(start);
              worst = std::max(worst, std::abs(C[i * o.ldc + j] - want) / size);
            }
          CHECK(worst < 1e-5);  // fp32 sums of 300 terms
          CHECK(o.padding_untouched(C));
          // The same shape again (the kept primitive) gives the same bits.
          std::vector<float> again = o.C0;
          gemm_f32_few_rows(ta, tb, M, o.N, o.K, 0.5f, o.A.data(), o.lda, o.B.data(), o.ldb, beta, again.data(), o.ldc);
          CHECK(again == C);
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
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f}) {
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(beta);
        const Operands o(37, 29, 70, 3, ta, tb, 2);  // odd sizes; operands in rows wider than they are
        std::vector<float> C = o.C0;
        {
          Bf16Products on;
          gemm_bf16(ta, tb, o.M, o.N, o.K, 0.5f, o.A.data(), o.lda, o.B.data(), o.ldb, beta, C.data(), o.ldc);
        }
        const auto rounded = [](float a, float b) { return double(from_bf16(to_bf16(a))) * from_bf16(to_bf16(b)); };
        double worst_exact = 0, worst_bound = 0;
        for (size_t i = 0; i < o.M; ++i)
          for (size_t j = 0; j < o.N; ++j) {
            const double base = beta * o.C0[i * o.ldc + j];
            const double got = C[i * o.ldc + j];
            const double size = 0.5 * o.sum(i, j, magnitude);
            // Products of bf16 numbers are exact in fp32; only the fp32 sums round.
            worst_exact = std::max(worst_exact, std::abs(got - (0.5 * o.sum(i, j, rounded) + base)) / (size + 1e-30));
            // Each operand is off by at most 2^-9 of itself.
            const double bound = size * 2 * 0x1p-9;
            worst_bound = std::max(worst_bound, std::abs(got - (0.5 * o.sum(i, j, product) + base)) / bound);
          }
        CHECK(worst_exact < 1e-5);
        CHECK(worst_bound <= 1.0);
        CHECK(o.padding_untouched(C));  // off C's columns, nothing is written
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
