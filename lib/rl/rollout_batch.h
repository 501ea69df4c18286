#pragma once
// Rollouts as the models read them. The policy, the reference and the value model read each sequence
// prompt + response without its last token, and the response's tokens are the targets at their rows
// (the row before each token predicts it, and the value model's value there is the value of the state
// that token is drawn in); the reward model reads the whole sequence and scores its last token.
// Sequences are padded to the longest of the batch.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rl/rollout.h"

namespace lmpipe::rl {

struct RolloutRows {
  size_t B = 0, Tn = 0;                    // the LM and value pass: B sequences of Tn positions
  std::vector<uint32_t> inputs, targets;   // [B * Tn]; targets kIgnore outside the responses
  std::vector<uint32_t> rows;              // each response token's row b * Tn + t, sequence by sequence
  std::vector<size_t> offsets;             // sequence s's tokens: rows[offsets[s], offsets[s + 1])
  size_t full_Tn = 0;                      // the reward model's pass: whole sequences
  std::vector<uint32_t> full_inputs, last; // [B * full_Tn], and each sequence's last position
  size_t tokens() const { return rows.size(); }
};

// The rows of the rollouts at `order` (indices into rollouts), padded with `pad`.
RolloutRows make_rollout_rows(std::span<const Rollout> rollouts, std::span<const size_t> order, uint32_t pad);

// From a pass over sequences [first, first + n) of rows (its token losses, [n * Tn] from that sequence
// on): each of their response tokens' log-probability, into logp at the tokens' places.
void gather_logp(const RolloutRows& rows, size_t first, size_t n, const float* token_losses, float* logp);

// The rows of sequences [first, first + n), relative to the first of them (for a pass over just those).
std::vector<uint32_t> share_rows(const RolloutRows& rows, size_t first, size_t n);

}  // namespace lmpipe::rl
