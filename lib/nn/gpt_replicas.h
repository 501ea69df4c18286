#pragma once
// Data parallelism between the threads of one process, for Gpt. A small model's matrix products are too
// small to share between threads well (each product a fork and a join, OpenBLAS's own included), and
// even GPT-2 124M's products gain from whole sequences per thread (bench/pretrain.sh measures both ways).
// So here each thread takes a share of the batch's sequences and runs the whole model on them alone, with
// activations and gradients of its own (thread 0 the model's), and single-threaded products: OpenBLAS and
// our OpenMP loops run on the calling thread inside a parallel region. The gradients are summed into the
// model's once per step (reduce_grads), as ranks' are by an allreduce.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "nn/gpt.h"

namespace lmpipe::nn {

template <class T>
class GptReplicas {
 public:
  // threads <= 1, or a batch of one sequence: the model runs alone, its products threaded as set by
  // set_compute_threads. Otherwise threads - 1 replicas hold gradients of the model's size.
  GptReplicas(Gpt<T>& model, size_t threads);

  size_t threads() const { return 1 + replicas_.size(); }
  // The key of this step's dropout masks: share 0 uses it as the model alone would, share s a key
  // derived from it and s (so a run's losses depend on its number of threads when dropout is on).
  void set_dropout_key(uint64_t key) { dropout_key_ = key; }
  // Gpt::set_temperature on the model and every replica.
  void set_temperature(double temperature) {
    model_.set_temperature(temperature);
    for (auto& r : replicas_) r->set_temperature(temperature);
  }

  // Gpt::forward and Gpt::forward_backward over B sequences, split between the threads: the same loss,
  // and (after reduce_grads) the same gradients up to rounding.
  double forward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn,
                 const uint32_t* positions = nullptr);
  double forward_backward(const uint32_t* inputs, const uint32_t* targets, size_t B, size_t Tn, T grad_scale = T(1),
                          const uint32_t* positions = nullptr);
  // Adds the replicas' gradients into the model's and zeroes theirs: call once per step, after the last
  // forward_backward and before the gradients are read. (The model's own start a step at zero.) Returns
  // the sum of the squares of the model's gradients after it, taken in the same pass: the square of
  // grad_norm's, up to rounding, without a pass and a wake of the thread team of its own.
  double reduce_grads();

  // run(model, first, count) on each thread's share of B sequences, in parallel: share 0 on the model,
  // the others on replicas, each with the dropout key forward_backward would give it. Shares are cut at
  // multiples of `unit` sequences (B is one), so that sequences a loss couples (a preference pair's two)
  // stay on one thread. For objectives with their own heads and losses (Gpt::score).
  void run_shares(size_t B, size_t unit, const std::function<void(Gpt<T>&, size_t, size_t)>& run);

 private:
  template <class Run>
  double split(const uint32_t* targets, size_t B, size_t Tn, const Run& run);

  Gpt<T>& model_;
  std::vector<std::unique_ptr<Gpt<T>>> replicas_;
  uint64_t dropout_key_ = 0;
};

extern template class GptReplicas<float>;
extern template class GptReplicas<double>;

}  // namespace lmpipe::nn
