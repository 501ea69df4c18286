#include "nn/optimizer.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "nn/parallel_sum.h"

namespace lmpipe::nn {

AdamW::AdamW(const ParameterLayout& layout, AdamWOptions options)
    : options_(options), grads_at_(layout.trained_range().first) {
  size_t moments = 0;
  for (const TensorInfo& t : layout.tensors()) {
    if (t.frozen) continue;
    if (!runs_.empty() && runs_.back().begin + runs_.back().size == t.offset)
      runs_.back().size += t.size;
    else
      runs_.push_back({t.offset, t.size, moments});
    decay_.resize(moments + t.size, t.decay ? 1 : 0);
    moments += t.size;
  }
  m_.assign(moments, 0.0f);
  v_.assign(moments, 0.0f);
}

void AdamW::step(float* params, const float* grads, double lr, float grad_scale) {
  update(params, grads, lr, grad_scale);
}

void AdamW::step_and_zero_grads(float* params, float* grads, double lr, float grad_scale) {
  update(params, grads, lr, grad_scale);
}

template <class Grad>
void AdamW::update(float* params, Grad* grads, double lr, float grad_scale) {
  ++steps_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  // torch.optim.AdamW: step size lr / (1 - b1^t), denominator sqrt(v) / sqrt(1 - b2^t) + eps.
  const double c1 = options_.bias_correction ? 1.0 - std::pow(b1, double(steps_)) : 1.0;
  const double c2 = options_.bias_correction ? 1.0 - std::pow(b2, double(steps_)) : 1.0;
  const float step_size = float(lr / c1), inv_sqrt_c2 = float(1.0 / std::sqrt(c2)), eps = float(options_.eps);
  const float decay = float(lr * options_.weight_decay), fb1 = float(b1), fb2 = float(b2);
  for (const Run& run : runs_) {
    // Plain pointers: through the vectors' members every store to params could, for the compiler, move them.
    float* __restrict m = m_.data() + run.moment;
    float* __restrict v = v_.data() + run.moment;
    const uint8_t* __restrict decays = decay_.data() + run.moment;
    float* __restrict p_run = params + run.begin;
    Grad* g_run = grads + (run.begin - grads_at_);
    const size_t n = run.size;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; ++i) {
      const float g = g_run[i] * grad_scale;
      const float p = decays[i] ? p_run[i] - decay * p_run[i] : p_run[i];
      m[i] = fb1 * m[i] + (1.0f - fb1) * g;
      v[i] = fb2 * v[i] + (1.0f - fb2) * g * g;
      p_run[i] = p - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
      if constexpr (!std::is_const_v<Grad>) g_run[i] = 0.0f;
    }
  }
}

double grad_norm(const float* grads, size_t n) {
  return std::sqrt(parallel_sum(n, [grads](size_t i) { return double(grads[i]) * double(grads[i]); }));
}

float clip_scale(double norm, double max_norm) {
  return max_norm > 0 && norm > max_norm ? float(max_norm / (norm + 1e-6)) : 1.0f;
}

double learning_rate(uint64_t step, uint64_t total, uint64_t warmup, double lr, double min_lr, Schedule schedule) {
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  if (schedule == Schedule::kLinearFromStart)
    return min_lr + (lr - min_lr) * (1.0 - std::min(1.0, double(step) / double(std::max<uint64_t>(total, 1))));
  if (schedule == Schedule::kConstant || total <= warmup) return lr;
  const double progress = std::min(1.0, double(step - warmup) / double(total - warmup));
  const double coeff = schedule == Schedule::kCosine ? 0.5 * (1.0 + std::cos(3.141592653589793 * progress)) : 1.0 - progress;
  return min_lr + coeff * (lr - min_lr);
}

}  // namespace lmpipe::nn
