#include "train/pair_batch.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/layers.h"

namespace lmpipe::train {

std::vector<PrefsRecord> take_prefs_records(RecordLoader& loader, size_t count, size_t max_len) {
  std::vector<PrefsRecord> records;
  loader.next(count, [&](const io::RecordView& r, const std::string& path) {
    const io::PrefsParts parts = io::prefs_parts(r);
    for (const auto& pair : parts.pairs)
      if (parts.prompt.size() + std::max(pair.chosen.size(), pair.rejected.size()) > max_len)
        throw Error(fmt::format("{}: a prompt and reply of {} ids, more than the header's max_len {}", path,
                                parts.prompt.size() + std::max(pair.chosen.size(), pair.rejected.size()), max_len));
    records.push_back({{r.ids.begin(), r.ids.end()}, {r.sentence_lens.begin(), r.sentence_lens.end()}});
  });
  return records;
}

namespace {

// -log sigmoid(d) = log(1 + e^-d), without overflow either way.
double neg_log_sigmoid(double d) { return d > 0 ? std::log1p(std::exp(-d)) : -d + std::log1p(std::exp(d)); }
double sigmoid(double d) { return d >= 0 ? 1 / (1 + std::exp(-d)) : std::exp(d) / (1 + std::exp(d)); }

}  // namespace

PairSums reward_loss(const PairRows& rows, const float* scores, PairWeighting weighting, double scale,
                     float* dscores, size_t first, size_t count) {
  PairSums sums;
  for (size_t s = first; s < first + count; s += 2) {
    const double margin = double(scores[s]) - double(scores[s + 1]);
    const double weight = weighting == PairWeighting::kByRecord ? scale * rows.pair_weight[s / 2] : scale;
    if (dscores != nullptr) {
      const double g = -weight * sigmoid(-margin);  // d (-log sigmoid(margin)) / d margin = -sigmoid(-margin)
      dscores[s] = float(g);
      dscores[s + 1] = float(-g);
    }
    sums.add({weight * neg_log_sigmoid(margin), margin > 0 ? 1.0 : 0.0, margin, 1});
  }
  return sums;
}

DpoSums dpo_loss(const PairRows& rows, const double* policy_logp, const double* reference_logp, double beta,
                 double rpo_alpha, PairWeighting weighting, double scale, double* dlogp, size_t first, size_t count) {
  DpoSums sums;
  for (size_t s = first; s < first + count; s += 2) {
    const double chosen = beta * (policy_logp[s] - reference_logp[s]);
    const double rejected = beta * (policy_logp[s + 1] - reference_logp[s + 1]);
    const double margin = chosen - rejected;
    const double chosen_tokens = double(rows.last[s] - rows.reply_start[s] + 1);
    const double nll = -policy_logp[s] / chosen_tokens;
    const double weight = weighting == PairWeighting::kByRecord ? scale * rows.pair_weight[s / 2] : scale;
    if (dlogp != nullptr) {
      const double g = -weight * sigmoid(-margin) * beta;
      dlogp[s] = g - weight * rpo_alpha / chosen_tokens;
      dlogp[s + 1] = -g;
    }
    sums.pairs.add({weight * (neg_log_sigmoid(margin) + rpo_alpha * nll), margin > 0 ? 1.0 : 0.0, margin, 1});
    sums.chosen_reward += chosen;
    sums.rejected_reward += rejected;
    sums.chosen_nll += nll;
  }
  return sums;
}

void make_reply_targets(const PairRows& rows, ReplyTargets& out) {
  const size_t S = 2 * rows.pairs, T = rows.Tn > 1 ? rows.Tn - 1 : 1;
  out.Tn = T;
  out.inputs.assign(S * T, 0);
  out.targets.assign(S * T, nn::kIgnore);
  for (size_t s = 0; s < S; ++s) {
    const uint32_t* seq = rows.inputs.data() + s * rows.Tn;
    std::copy_n(seq, std::min(T, rows.Tn), out.inputs.data() + s * T);
    // Input i predicts id i + 1: a target when that id is in the reply.
    for (size_t i = rows.reply_start[s] > 0 ? rows.reply_start[s] - 1 : 0; i < rows.last[s]; ++i)
      out.targets[s * T + i] = seq[i + 1];
  }
}

void reply_logps(const float* losses, const ReplyTargets& targets, size_t first, size_t count, double* logps) {
  for (size_t s = first; s < first + count; ++s) {
    double sum = 0;
    for (size_t i = 0; i < targets.Tn; ++i)
      if (targets.targets[s * targets.Tn + i] != nn::kIgnore) sum += double(losses[(s - first) * targets.Tn + i]);
    logps[s] = -sum;
  }
}

void reply_row_scales(const ReplyTargets& targets, const double* dlogp, size_t first, size_t count, float* row_scale) {
  for (size_t s = first; s < first + count; ++s)
    for (size_t i = 0; i < targets.Tn; ++i)
      row_scale[s * targets.Tn + i] = targets.targets[s * targets.Tn + i] != nn::kIgnore ? float(-dlogp[s]) : 0.0f;
}

void make_pair_rows(std::span<const PrefsRecord> records, uint32_t pad, PairRows& rows) {
  size_t pairs = 0, longest = 1;
  for (const PrefsRecord& r : records) {
    pairs += (r.part_lens.size() - 1) / 2;
    for (size_t p = 1; p < r.part_lens.size(); ++p) longest = std::max<size_t>(longest, r.part_lens[0] + r.part_lens[p]);
  }
  rows.Tn = longest;
  rows.pairs = pairs;
  rows.inputs.assign(2 * pairs * longest, pad);
  rows.last.assign(2 * pairs, 0);
  rows.reply_start.assign(2 * pairs, 0);
  rows.pair_weight.assign(pairs, 0.0);
  size_t s = 0;
  for (const PrefsRecord& r : records) {
    const size_t prompt = r.part_lens[0], record_pairs = (r.part_lens.size() - 1) / 2;
    size_t at = prompt;  // where the next reply starts in r.ids
    for (size_t p = 1; p < r.part_lens.size(); ++p, ++s) {
      uint32_t* row = rows.inputs.data() + s * longest;
      std::copy_n(r.ids.begin(), prompt, row);
      std::copy_n(r.ids.begin() + ptrdiff_t(at), r.part_lens[p], row + prompt);
      at += r.part_lens[p];
      rows.last[s] = uint32_t(prompt + r.part_lens[p] - 1);
      rows.reply_start[s] = uint32_t(prompt);
      if (p % 2 == 1) rows.pair_weight[s / 2] = 1.0 / double(record_pairs);
    }
  }
}

}  // namespace lmpipe::train
