#pragma once
// AdamW over a model's flat parameter buffer (its frozen tensors left alone, with no moments kept for
// them), learning-rate schedules, and global-norm gradient clipping.
#include <cstdint>
#include <string>
#include <vector>

#include "nn/parameters.h"

namespace lmpipe::nn {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;     // decoupled: p -= lr * weight_decay * p, on tensors marked decay
  bool bias_correction = true;   // false: google-research/bert's Adam
};

class AdamW {
 public:
  AdamW(const ParameterLayout& layout, AdamWOptions options);
  // One update of params with grads x grad_scale at learning rate lr; counts the step. grads holds the
  // gradients of the layout's trained_range() alone: grads[i] is params[trained_range().first + i]'s (a
  // model whose leading tensors are frozen keeps no gradients for them). The scale is
  // clip_scale's: clipping folded into the update, where scaling the gradients first is one more pass
  // over them (500 MB for GPT-2 124M).
  void step(float* params, const float* grads, double lr, float grad_scale = 1.0f);
  // The same update, zeroing each gradient once it is read: the training loops' next step then starts
  // from zeros without a pass of its own (one wake of the thread team and one write of the gradients
  // fewer a step).
  void step_and_zero_grads(float* params, float* grads, double lr, float grad_scale = 1.0f);
  uint64_t steps() const { return steps_; }

  // The state a resumed run needs: moments (of the trainable tensors, in layout order) and the step count.
  std::vector<float>& m() { return m_; }
  std::vector<float>& v() { return v_; }
  void set_steps(uint64_t steps) { steps_ = steps; }

 private:
  // Grad is float (the gradients are zeroed once read) or const float.
  template <class Grad>
  void update(float* params, Grad* grads, double lr, float grad_scale);

  // The trainable tensors as runs of consecutive elements: params[begin, begin + size) and their moments
  // from m_[moment].
  struct Run {
    size_t begin, size, moment;
  };
  AdamWOptions options_;
  size_t grads_at_ = 0;  // the offset in params of grads[0]
  std::vector<Run> runs_;
  std::vector<uint8_t> decay_;  // per moment
  std::vector<float> m_, v_;
  uint64_t steps_ = 0;
};

// The L2 norm of all gradients, and the factor that clips it to max_norm (torch's clip_grad_norm_:
// max_norm / (norm + 1e-6) when norm exceeds max_norm > 0, else 1).
double grad_norm(const float* grads, size_t n);
float clip_scale(double norm, double max_norm);

// kLinearFromStart is google-research/bert's: the linear decay is measured from step 0, and warmup
// overrides its first steps (so the rate drops a little where warmup ends).
enum class Schedule { kCosine, kLinear, kConstant, kLinearFromStart };

// Linear warmup from lr / warmup to lr over the first `warmup` steps, then cosine or linear decay to
// min_lr at `total` (measured from the end of warmup, as nanoGPT, fairseq and HuggingFace do), or constant;
// or, for kLinearFromStart, min_lr + (lr - min_lr) (1 - step / total) after warmup.
double learning_rate(uint64_t step, uint64_t total, uint64_t warmup, double lr, double min_lr, Schedule schedule);

}  // namespace lmpipe::nn
