// gemm-peak: the single-precision matrix-product rate this machine reaches through the same path as
// pretrain (Eigen products handed to OpenBLAS, the kernels and threads lmpipe::nn picks), so a
// training benchmark can state its GFLOP/s as a fraction of what the hardware does at best.
//   gemm-peak [--threads N] [--size N]
#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "nn/runtime.h"

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);
  int threads = 0;
  long n = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--size") == 0) n = std::atol(argv[i + 1]);
  }
  lmpipe::nn::set_compute_threads(threads);
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n);
  Eigen::MatrixXf c(n, n);
  double best = 0;
  for (int rep = 0; rep < 7; ++rep) {  // the best of several: the peak, not the typical
    const auto t0 = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * double(n) * double(n) * double(n) / s / 1e9);
  }
  std::printf("RESULT gemm-peak gflops=%.1f size=%ld kernels=%s check=%g\n", best, n, lmpipe::nn::blas_kernels(),
              double(c(0, 0)));
  return 0;
}
