// gemm-peak: the matrix-product rates this machine reaches through the same paths as pretrain, so a
// training benchmark can state its GFLOP/s as a fraction of what the hardware does at best.
//   gemm-peak [--threads N] [--size N]     fp32 (Eigen handed to OpenBLAS) on one square product
//   gemm-peak --training [--threads N]     fp32 (OpenBLAS) and bf16 (nn/onednn_gemm.h) on the products of a
//                                          GPT-2 124M step, as pretrain's thread replicas run them: every
//                                          thread its own product, single-threaded, at once
#include <Eigen/Core>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cblas.h>

#include "nn/onednn_gemm.h"
#include "nn/runtime.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int square_peak(long n) {
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n);
  Eigen::MatrixXf c(n, n);
  double best = 0;
  for (int rep = 0; rep < 7; ++rep) {  // the best of several: the peak, not the typical
    const auto t0 = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    best = std::max(best, 2.0 * double(n) * double(n) * double(n) / seconds_since(t0) / 1e9);
  }
  std::printf("RESULT gemm-peak gflops=%.1f size=%ld kernels=%s check=%g\n", best, n, lmpipe::nn::blas_kernels(),
              double(c(0, 0)));
  return 0;
}

// One product of a training step: C[M, N] (+)= op(A) op(B), B the weight (ta/tb as cblas_sgemm).
struct Product {
  const char* name;
  size_t M, N, K;
  bool ta, tb;
  float beta;
  bool weight_b;  // B is a weight (read from the bf16 copy); else both operands are activations
};

// Each thread runs `reps` of the product on operands of its own, all threads at once; the rate summed.
double rate(const Product& p, bool bf16, int reps) {
  const int threads = omp_get_max_threads();
  std::vector<std::vector<float>> a(threads), b(threads), c(threads);
  for (int t = 0; t < threads; ++t) {
    a[t].assign(p.M * p.K, 0.01f * float(t + 1));
    b[t].assign(p.K * p.N, 0.02f);
    c[t].assign(p.M * p.N, 0.0f);
  }
  std::vector<std::unique_ptr<lmpipe::nn::Bf16Copy>> copies;
  if (bf16 && p.weight_b)
    for (int t = 0; t < threads; ++t) copies.push_back(std::make_unique<lmpipe::nn::Bf16Copy>(b[t].data(), b[t].size()));
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      const int t = omp_get_thread_num();
      const size_t lda = p.ta ? p.M : p.K, ldb = p.tb ? p.K : p.N;
      for (int r = 0; r < reps; ++r) {
        if (bf16)
          lmpipe::nn::gemm_bf16(p.ta, p.tb, p.M, p.N, p.K, 1.0f, a[t].data(), lda, b[t].data(), ldb, p.beta,
                                c[t].data(), p.N);
        else
          cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, int(p.M),
                      int(p.N), int(p.K), 1.0f, a[t].data(), int(lda), b[t].data(), int(ldb), p.beta, c[t].data(),
                      int(p.N));
      }
    }
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * double(p.M) * double(p.N) * double(p.K) * reps * threads / best / 1e9;
}

int training_shapes() {
  if (const std::string why = lmpipe::nn::bf16_unavailable_reason(); !why.empty()) {
    std::fprintf(stderr, "gemm-peak: --training: %s\n", why.c_str());
    return 1;
  }
  lmpipe::nn::set_bf16_products(true);
  // GPT-2 124M at bench/precision.sh's shape: 2 sequences of 256 per thread (512 rows); weights in GPT-2's
  // [in, out] layout; the LM head a chunk of lm_head_loss's 256 rows against the 50257 tied embeddings.
  const size_t R = 512, C = 768, F = 3072, V = 50257, H = 256;
  const Product products[] = {
      {"qkv forward", R, 3 * C, C, false, false, 1, true},     {"qkv dinp", R, C, 3 * C, false, true, 0, true},
      {"qkv dweight", C, 3 * C, R, true, false, 1, false},     {"proj forward", R, C, C, false, false, 1, true},
      {"fc forward", R, F, C, false, false, 1, true},          {"fc dinp", R, C, F, false, true, 0, true},
      {"fc dweight", C, F, R, true, false, 1, false},          {"fcproj forward", R, C, F, false, false, 1, true},
      {"fcproj dinp", R, F, C, false, true, 0, true},          {"fcproj dweight", F, C, R, true, false, 1, false},
      {"head logits", H, V, C, false, true, 0, true},          {"head dx", H, C, V, false, false, 0, true},
      {"head dwte", V, C, H, true, false, 1, false},
  };
  std::printf("%-16s %6s %6s %6s %10s %10s %6s\n", "product", "M", "N", "K", "fp32 GF/s", "bf16 GF/s", "ratio");
  const auto row = [](const Product& p, double f, double& g32, double& g16) {
    const int reps = std::max(1, int(2e10 / f));
    g32 = rate(p, false, reps), g16 = rate(p, true, reps);
    std::printf("%-16s %6zu %6zu %6zu %10.1f %10.1f %6.2f\n", p.name, p.M, p.N, p.K, g32, g16, g16 / g32);
  };
  double flops = 0, t32 = 0, t16 = 0, g32 = 0, g16 = 0;
  for (const Product& p : products) {
    const double f = 2.0 * double(p.M) * double(p.N) * double(p.K);
    row(p, f, g32, g16);
    flops += f, t32 += f / g32, t16 += f / g16;
  }
  // The rates at their best, for scale: a large square product (the step's are smaller or thinner).
  const Product square{"square (peak)", 2048, 2048, 2048, false, false, 0, true};
  row(square, 2.0 * 2048 * 2048 * 2048, g32, g16);
  std::printf("RESULT gemm-peak-training threads=%d fp32_gflops=%.1f bf16_gflops=%.1f ratio=%.2f kernels=%s\n",
              omp_get_max_threads(), flops / t32, flops / t16, t32 / t16, lmpipe::nn::blas_kernels());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);
  int threads = 0;
  long n = 2048;
  bool training = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--training") == 0) training = true;
    if (i + 1 < argc && std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (i + 1 < argc && std::strcmp(argv[i], "--size") == 0) n = std::atol(argv[i + 1]);
  }
  lmpipe::nn::set_compute_threads(threads);
  return training ? training_shapes() : square_peak(n);
}
