#pragma once
// Matrix products through oneDNN's matmul, where it beats OpenBLAS:
// - with bfloat16 operands and fp32 accumulation (pretrain and sample --precision bf16), on processors with
//   AVX512-BF16: the products the layers of lib/nn/layers.cpp make take this path once
//   set_bf16_products(true) is called; everything else (master weights, gradients, optimizer moments, layer
//   norms, softmax, losses, reductions) stays fp32;
// - in fp32, products of few rows (a generated token's, a picture's patches), where oneDNN's kernels keep
//   both cores busy and OpenBLAS's do not.
//
// bf16 keeps fp32's 8-bit exponent, so products neither overflow nor underflow where fp32's would not, and
// gradients need no loss scaling (fp16's 5-bit exponent is why fp16 training scales its losses); what bf16
// gives up is mantissa: 8 bits, a relative rounding error of at most 2^-9 per operand.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace lmpipe::nn {

// A bfloat16 number's bits: the top half of the float nearest to it.
using bf16 = uint16_t;

// Round to the nearest bf16, ties to even (as PyTorch and the hardware's VCVTNEPS2BF16); NaN stays NaN.
inline bf16 to_bf16(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16(u >> 16);
}
inline float from_bf16(bf16 h) { return std::bit_cast<float>(uint32_t(h) << 16); }
void to_bf16(const float* src, bf16* dst, size_t n);

// Why this process cannot multiply in bf16 at the hardware's rate ("this CPU has no AVX512-BF16 (oneDNN's
// ISA: avx2)"); empty when it can. oneDNN's DNNL_MAX_CPU_ISA lowers what it reports.
std::string bf16_unavailable_reason();

// Turns the bf16 products on for the whole process (off by default). Refuses (Error) when
// bf16_unavailable_reason() is not empty: oneDNN would emulate bf16 there, slower than fp32.
void set_bf16_products(bool on);
bool bf16_products();

// --precision: "fp32" or "bf16". Turns the bf16 products on when bf16 is asked for and the CPU has it;
// when it does not, leaves them off and, unless quiet, prints one line on stderr: "PROGRAM: warning:
// --precision bf16: REASON; computing in fp32". Returns whether they are on. UsageError for any other name.
bool select_precision(const std::string& precision, const char* program, bool quiet);

// C[M, N] = alpha op(A) op(B) + beta C, row-major, as cblas_sgemm, with A and B rounded to bf16 and the
// products summed in fp32. An operand inside a buffer that has a Bf16Copy is read from the copy; any other
// is converted into per-thread scratch first. Inside a parallel region it runs on the calling thread.
void gemm_bf16(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
               const float* B, size_t ldb, float beta, float* C, size_t ldc);

// Products of fewer rows than this (op(A)'s M) go to gemm_f32_few_rows.
inline constexpr size_t kFewRows = 96;

// C[M, N] = alpha op(A) op(B) + beta C in fp32, as cblas_sgemm, through oneDNN's matmul. For M under
// kFewRows, where OpenBLAS's sgemm keeps one core busy and oneDNN's both; on more rows OpenBLAS's is as
// fast (A B^T, a linear layer's forward) or faster (A B and A^T B, its backward). Inside a parallel region
// it runs on the calling thread.
void gemm_f32_few_rows(bool ta, bool tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                       const float* B, size_t ldb, float beta, float* C, size_t ldc);

// A bf16 copy of a float buffer (a model's parameters) that gemm_bf16 reads its operands from: the
// weights are converted once per optimizer step (refresh() after the update) instead of at every product.
// Create, refresh and destroy copies outside parallel regions.
class Bf16Copy {
 public:
  Bf16Copy(const float* data, size_t n);
  ~Bf16Copy();
  Bf16Copy(const Bf16Copy&) = delete;
  Bf16Copy& operator=(const Bf16Copy&) = delete;
  // Converts the buffer again: call after every change to it.
  void refresh();

 private:
  const float* data_;
  size_t n_;
  std::unique_ptr<bf16[]> copy_;
};

// A Bf16Copy of data[0, n) when the bf16 products are on, else null: what a program that loads or trains a
// model keeps beside its weights.
std::unique_ptr<Bf16Copy> copy_for_bf16_products(const float* data, size_t n);

}  // namespace lmpipe::nn
