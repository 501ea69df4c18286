#pragma once
// The compute runtime: one OpenMP pool sized from --threads, waiting passively, and OpenBLAS's
// matrix kernels chosen for this CPU.
namespace lmpipe::nn {

// Call first thing in main() of a program that computes. OpenBLAS 0.3.21 (Debian 12) does not know
// CPUs newer than it (Sapphire Rapids, say) and falls back to its much slower SSE3 kernels; it and
// libgomp read their settings (OPENBLAS_CORETYPE, OMP_WAIT_POLICY, GOMP_SPINCOUNT) when the program
// loads, so when a setting is missing this re-executes the program once with it set. Returns normally
// otherwise.
void prepare_compute_environment(char** argv);

// Threads for OpenMP and OpenBLAS (0: one per core).
void set_compute_threads(int threads);
// The threads set_compute_threads set.
int compute_threads();

// The OpenBLAS kernel family in use ("SkylakeX", "Haswell", ...), for logs and benchmarks.
const char* blas_kernels();

}  // namespace lmpipe::nn
