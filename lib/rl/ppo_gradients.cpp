#include "rl/ppo_gradients.h"

#include <vector>

namespace lmpipe::rl {

PolicyLoss policy_gradient(nn::GptReplicas<float>& policy, const RolloutRows& rows, std::span<const float> old_logp,
                           std::span<const double> advantages, double clip, double scale) {
  const size_t N = rows.tokens(), Tn = rows.Tn;
  std::vector<float> logp(N), row_scale(rows.B * Tn, 0.0f);
  std::vector<double> dlogp(N);
  std::vector<PolicyLoss> shares(rows.B);  // at each share's first sequence
  policy.run_shares(rows.B, 1, [&](nn::Gpt<float>& g, size_t first, size_t n) {
    const uint32_t* inputs = rows.inputs.data() + first * Tn;
    const uint32_t* targets = rows.targets.data() + first * Tn;
    g.forward_train(inputs, targets, n, Tn);
    gather_logp(rows, first, n, g.token_losses(), logp.data());
    const size_t a = rows.offsets[first], count = rows.offsets[first + n] - a;
    shares[first] = policy_loss(std::span(logp).subspan(a, count), old_logp.subspan(a, count),
                                advantages.subspan(a, count), clip, scale, std::span(dlogp).subspan(a, count));
    // A token's cross-entropy is -logp: its weight is -d loss / d logp.
    for (size_t i = a; i < a + count; ++i) row_scale[rows.rows[i]] = float(-dlogp[i]);
    g.backward_weighted(row_scale.data() + first * Tn, inputs, targets, n, Tn);
  });
  PolicyLoss sums;
  for (const PolicyLoss& s : shares) sums.add(s);
  return sums;
}

ValueLoss value_gradient(nn::GptReplicas<float>& value, const RolloutRows& rows, std::span<const float> old_values,
                         std::span<const double> returns, double clip, double scale) {
  const size_t N = rows.tokens(), Tn = rows.Tn;
  std::vector<float> values(N), dvalues(N);
  std::vector<double> d(N);
  std::vector<ValueLoss> shares(rows.B);
  value.run_shares(rows.B, 1, [&](nn::Gpt<float>& g, size_t first, size_t n) {
    const uint32_t* inputs = rows.inputs.data() + first * Tn;
    const std::vector<uint32_t> local = share_rows(rows, first, n);
    const size_t a = rows.offsets[first], count = local.size();
    g.score_rows(values.data() + a, inputs, local.data(), count, n, Tn, true);
    shares[first] = value_loss(std::span(values).subspan(a, count), old_values.subspan(a, count),
                               returns.subspan(a, count), clip, scale, std::span(d).subspan(a, count));
    for (size_t i = a; i < a + count; ++i) dvalues[i] = float(d[i]);
    g.score_rows_backward(dvalues.data() + a, inputs, local.data(), count, n, Tn);
  });
  ValueLoss sums;
  for (const ValueLoss& s : shares) sums.add(s);
  return sums;
}

}  // namespace lmpipe::rl
