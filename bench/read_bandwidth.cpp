// read-bandwidth: how fast this machine streams memory that is not in cache, reading it once (a sum over
// 1 GiB with OpenMP threads, the best of several passes). Generating a token reads every weight once, so
// weight bytes / this rate is the floor of a token's time, against which bench/sample.sh measures.
//   read-bandwidth [--threads N] [--mib N]
#include <omp.h>

#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "nn/runtime.h"

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);
  int threads = 0;
  size_t mib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--mib") == 0) mib = size_t(std::atol(argv[i + 1]));
  }
  lmpipe::nn::set_compute_threads(threads);
  const size_t n = mib * (size_t(1) << 20) / sizeof(float);
  std::vector<float> data(n);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) data[i] = float(i % 7);  // touched by the threads that read it
  double best = 0, check = 0;
  for (int rep = 0; rep < 10; ++rep) {  // the best pass: the machine's rate, not its noise
    const auto t0 = std::chrono::steady_clock::now();
    // Each thread sums its contiguous share with Eigen's packet reduction (several accumulators: an
    // `omp simd` loop over one accumulator is bound by the add latency, well below the memory's rate).
    double sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      const size_t t = size_t(omp_get_thread_num()), T = size_t(omp_get_num_threads());
      const size_t begin = n * t / T, end = n * (t + 1) / T;
      sum += double(Eigen::Map<const Eigen::ArrayXf>(data.data() + begin, Eigen::Index(end - begin)).sum());
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(n * sizeof(float)) / s / 1e9);
    check += sum;
  }
  std::printf("RESULT read-bandwidth gb_per_s=%.1f mib=%zu threads=%d check=%g\n", best, mib, omp_get_max_threads(), check);
  return 0;
}
