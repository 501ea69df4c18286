#include "train/distributed.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "core/error.h"

#ifdef LMPIPE_HAVE_MPI
#include <mpi.h>
#endif

namespace lmpipe::train {
namespace {

Distributed* g_world = nullptr;

// mpirun (Open MPI, MPICH, Slurm's PMI) tells its ranks through the environment; a program run by hand is
// not initialised as an MPI singleton, which costs start-up time and warnings for nothing.
bool started_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

}  // namespace

Distributed::Distributed(int* argc, char*** argv) {
#ifdef LMPIPE_HAVE_MPI
  if (started_by_mpirun()) {
    MPI_Init(argc, argv);
    initialized_ = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
#else
  (void)argc;
  (void)argv;
#endif
  g_world = this;
}

Distributed::~Distributed() {
#ifdef LMPIPE_HAVE_MPI
  if (initialized_) MPI_Finalize();
#endif
  if (g_world == this) g_world = nullptr;
}

Distributed& Distributed::world() {
  static Distributed alone;
  return g_world != nullptr ? *g_world : alone;
}

#ifdef LMPIPE_HAVE_MPI
namespace {
template <class T>
void allreduce(T* data, size_t n, MPI_Datatype type) {
  for (size_t at = 0; at < n; at += Distributed::kBucket) {
    const int count = int(std::min(Distributed::kBucket, n - at));
    MPI_Allreduce(MPI_IN_PLACE, data + at, count, type, MPI_SUM, MPI_COMM_WORLD);
  }
}
}  // namespace
#endif

void Distributed::allreduce_sum(float* data, size_t n) {
  if (size_ == 1) return;
#ifdef LMPIPE_HAVE_MPI
  const auto t0 = std::chrono::steady_clock::now();
  allreduce(data, n, MPI_FLOAT);
  reduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#else
  (void)data;
  (void)n;
#endif
}

void Distributed::allreduce_sum(double* data, size_t n) {
  if (size_ == 1) return;
#ifdef LMPIPE_HAVE_MPI
  allreduce(data, n, MPI_DOUBLE);
#else
  (void)data;
  (void)n;
#endif
}

void Distributed::broadcast(float* data, size_t n) {
  if (size_ == 1) return;
#ifdef LMPIPE_HAVE_MPI
  for (size_t at = 0; at < n; at += kBucket)
    MPI_Bcast(data + at, int(std::min(kBucket, n - at)), MPI_FLOAT, 0, MPI_COMM_WORLD);
#else
  (void)data;
  (void)n;
#endif
}

std::pair<int, int> Distributed::agree(int status, bool leaving) {
  agreed_ = true;
  // One reduction: the largest status, and the largest negated rank of those leaving (the lowest rank).
  int values[2] = {status, leaving ? -rank_ : -size_};
#ifdef LMPIPE_HAVE_MPI
  if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, values, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
  ended_by_agreement_ = -values[1] != size_;
  return {values[0], -values[1]};
}

void Distributed::agree_to_go_on() {
  if (agreed_) return;
  const auto [status, first_leaving] = agree(0, false);
  if (first_leaving != size_) throw FailedElsewhere(status);
}

bool Distributed::should_print(int status) {
  if (agreed_) return true;
  return agree(status, true).second == rank_;
}

void Distributed::abort(int code) {
#ifdef LMPIPE_HAVE_MPI
  if (initialized_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace lmpipe::train
