#include "rl/rollout_batch.h"

#include <algorithm>

#include "nn/layers.h"

namespace lmpipe::rl {

RolloutRows make_rollout_rows(std::span<const Rollout> rollouts, std::span<const size_t> order, uint32_t pad) {
  RolloutRows r;
  r.B = order.size();
  for (size_t i : order) {
    const size_t length = rollouts[i].prompt.size() + rollouts[i].response.size();
    r.full_Tn = std::max(r.full_Tn, length);
  }
  r.Tn = r.full_Tn - 1;
  r.inputs.assign(r.B * r.Tn, pad);
  r.targets.assign(r.B * r.Tn, nn::kIgnore);
  r.full_inputs.assign(r.B * r.full_Tn, pad);
  r.offsets.push_back(0);
  for (size_t b = 0; b < r.B; ++b) {
    const Rollout& x = rollouts[order[b]];
    const size_t P = x.prompt.size(), L = x.response.size();
    uint32_t* full = r.full_inputs.data() + b * r.full_Tn;
    std::copy(x.prompt.begin(), x.prompt.end(), full);
    std::copy(x.response.begin(), x.response.end(), full + P);
    std::copy(full, full + P + L - 1, r.inputs.data() + b * r.Tn);
    for (size_t t = 0; t < L; ++t) {
      const size_t row = b * r.Tn + P - 1 + t;
      r.targets[row] = x.response[t];
      r.rows.push_back(uint32_t(row));
    }
    r.offsets.push_back(r.rows.size());
    r.last.push_back(uint32_t(P + L - 1));
  }
  return r;
}

void gather_logp(const RolloutRows& rows, size_t first, size_t n, const float* token_losses, float* logp) {
  const size_t base = first * rows.Tn;
  for (size_t i = rows.offsets[first]; i < rows.offsets[first + n]; ++i) logp[i] = -token_losses[rows.rows[i] - base];
}

std::vector<uint32_t> share_rows(const RolloutRows& rows, size_t first, size_t n) {
  const uint32_t base = uint32_t(first * rows.Tn);
  std::vector<uint32_t> out(rows.rows.begin() + std::ptrdiff_t(rows.offsets[first]),
                            rows.rows.begin() + std::ptrdiff_t(rows.offsets[first + n]));
  for (uint32_t& row : out) row -= base;
  return out;
}

}  // namespace lmpipe::rl
