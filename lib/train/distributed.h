#pragma once
// Data parallelism over MPI. Under `mpirun -np N`, every rank holds the whole model, takes its share of
// each step's batch, and the gradients are summed across ranks before the (identical) optimizer step.
// Built without MPI, or started without mpirun, a program is rank 0 of 1 and every call below is a no-op.
#include <cstddef>
#include <cstdint>
#include <utility>

namespace lmpipe::train {

class Distributed {
 public:
  // Joins the MPI job when the program was started by mpirun (MPI_Init); alone otherwise. One per process,
  // made in main before anything else runs.
  Distributed(int* argc, char*** argv);
  ~Distributed();  // MPI_Finalize
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  // The process's: the one main made, or a lone rank 0 of 1 (tests, other programs).
  static Distributed& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }

  // Sums across ranks in place, in buckets of kBucket elements (so no rank needs a second copy).
  void allreduce_sum(float* data, size_t n);
  void allreduce_sum(double* data, size_t n);
  // Rank 0's values to every rank.
  void broadcast(float* data, size_t n);
  // Before the run's first collective the ranks agree on whether it goes on, so that an error that every
  // rank finds (bad flags, bad data) or only one (rank 0's run-directory checks) is printed once and the
  // job ends without MPI_Abort. Each rank takes part once: through agree_to_go_on() on its way to the
  // first collective, or through should_print() from its error handler.
  //
  // Throws FailedElsewhere with the job's exit status when a rank is leaving.
  void agree_to_go_on();
  // For a rank about to leave with status and a message (an error, or --help's text): whether it prints
  // it. Before the agreement it takes part, and the lowest rank leaving prints; after it, every rank
  // that fails prints, and must then abort() (the others are in a collective).
  bool should_print(int status);
  // Whether a rank leaving with a non-zero status must end the job with abort(): no agreement settled it.
  bool must_abort() const { return size_ > 1 && !ended_by_agreement_; }
  // Ends the whole job with this exit code: for a rank that failed, so that the others do not wait for it.
  [[noreturn]] void abort(int code);

  // Seconds spent in allreduce_sum so far (for the metrics).
  double reduce_seconds() const { return reduce_seconds_; }

  static constexpr size_t kBucket = size_t(1) << 22;  // 16 MiB of floats

 private:
  Distributed() = default;
  // The agreement: every rank's status (0: going on) and whether it leaves; returns the job's status (the
  // largest) and the lowest rank leaving (size() if none).
  std::pair<int, int> agree(int status, bool leaving);

  int rank_ = 0, size_ = 1;
  bool initialized_ = false;
  bool agreed_ = false;
  bool ended_by_agreement_ = false;  // the agreement found a rank leaving: every rank leaves normally
  double reduce_seconds_ = 0;
};

}  // namespace lmpipe::train
