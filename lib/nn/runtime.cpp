#include "nn/runtime.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <xmmintrin.h>
#include <cstring>
#include <string_view>
#include <thread>

namespace lmpipe::nn {

void prepare_compute_environment(char** argv) {
  // Denormal floats (below 1.2e-38) take a slow microcode path on x86: squares of tiny gradients in
  // AdamW's second moment produce them, and once they appear every step takes that path. Flush them
  // to zero (FTZ) and read them as zero (DAZ), as GPU training does; threads started later inherit
  // the setting.
  _mm_setcsr(_mm_getcsr() | 0x8040);
  bool changed = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    // Spinning threads make a shared 2-core machine crawl (docs/DESIGN.md, "Threads"). But a thread
    // that sleeps at once is slow to wake in a VM (a futex round trip), and a training step starts
    // several thread teams: a waiting thread first spins 1000 pauses, then sleeps, so the wake stays
    // cheap while a busy neighbour still gets the core.
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    if (std::getenv("GOMP_SPINCOUNT") == nullptr) ::setenv("GOMP_SPINCOUNT", "1000", 1);
    changed = true;
  }
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    const std::string_view core = openblas_get_corename();
    const bool generic = core == "Prescott" || core == "Core2" || core == "Nehalem" || core == "Katmai" || core == "Unknown";
    __builtin_cpu_init();
    if (generic && __builtin_cpu_supports("avx512f")) {
      ::setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
      changed = true;
    } else if (generic && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      ::setenv("OPENBLAS_CORETYPE", "Haswell", 1);
      changed = true;
    }
  }
  if (changed && std::getenv("LMPIPE_REEXECUTED") == nullptr) {
    ::setenv("LMPIPE_REEXECUTED", "1", 1);
    ::execv("/proc/self/exe", argv);
    // exec failed: carry on with the slower settings.
  }
}

void set_compute_threads(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);
  // A parallel loop reached from inside a parallel region (GptReplicas: a thread per share of the batch)
  // runs on its calling thread alone, as OpenBLAS does there: never threads of threads.
  omp_set_max_active_levels(1);
  openblas_set_num_threads(threads);
}

int compute_threads() { return omp_get_max_threads(); }

const char* blas_kernels() { return openblas_get_corename(); }

}  // namespace lmpipe::nn
