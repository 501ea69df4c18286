#pragma once
// Preference records (make-prefs's shards) as sequences for the objectives that compare two replies (a
// reward model, DPO): each pair becomes two sequences, prompt + chosen then prompt + rejected, padded to
// the micro-batch's longest. A record holds a prompt's pairs; each pair weighs 1 / (pairs of its record),
// so a record counts once however many comparisons it has (InstructGPT trains on all of a prompt's
// comparisons as one batch element).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "train/record_loader.h"

namespace lmpipe::train {

// A prefs record, copied out of its block.
struct PrefsRecord {
  std::vector<uint32_t> ids, part_lens;  // part_lens: prompt, chosen 1, rejected 1, ...
};

// Sequence 2k is pair k's prompt + chosen, 2k + 1 its prompt + rejected.
struct PairRows {
  size_t Tn = 0, pairs = 0;
  std::vector<uint32_t> inputs;       // [2 pairs, Tn], padding after each sequence's last token
  std::vector<uint32_t> last;         // [2 pairs]: the position of each sequence's last token
  std::vector<uint32_t> reply_start;  // [2 pairs]: the position of each reply's first token
  std::vector<double> pair_weight;    // [pairs]: 1 / (pairs of the pair's record)
};

// The next `count` records of loader; throws Error naming the file for one whose prompt and longest reply
// exceed max_len (the shard header's).
std::vector<PrefsRecord> take_prefs_records(RecordLoader& loader, size_t count, size_t max_len);

void make_pair_rows(std::span<const PrefsRecord> records, uint32_t pad, PairRows& rows);

// The pairs' sequences as next-token rows for a policy (DPO): a sequence's ids but its last are inputs
// (Tn = rows.Tn - 1 a row), and the next id is a target only inside the reply (kIgnore elsewhere), so the
// targets' cross-entropies add up to minus the reply's log-probability.
struct ReplyTargets {
  size_t Tn = 0;
  std::vector<uint32_t> inputs, targets;
};
void make_reply_targets(const PairRows& rows, ReplyTargets& out);

// Each sequence's reply log-probability, -sum of its targets' losses, for sequences [first, first + count)
// of losses laid out as ReplyTargets rows (token_losses() of a model run on them from sequence first).
void reply_logps(const float* losses, const ReplyTargets& targets, size_t first, size_t count, double* logps);

// The weight of each target row of sequences [first, first + count) in a loss of their reply
// log-probabilities: log pi = -sum of the reply's cross-entropies, so a target of sequence s weighs
// -dlogp[s] (0 elsewhere). row_scale is laid out as targets' rows (Gpt::backward_weighted takes it).
void reply_row_scales(const ReplyTargets& targets, const double* dlogp, size_t first, size_t count, float* row_scale);

// Sums over pairs, added across shares, micro-batches and ranks.
struct PairSums {
  double loss = 0;     // the loss's part (weighted as asked)
  double correct = 0;  // pairs whose chosen reply scores higher
  double margin = 0;   // sum of r_chosen - r_rejected
  double pairs = 0;
  void add(const PairSums& o) {
    loss += o.loss;
    correct += o.correct;
    margin += o.margin;
    pairs += o.pairs;
  }
};

// How a loss sums its pairs: training weighs each by scale x its pair_weight (scale = 1 / the step's
// records makes a step's sum its mean over records); evaluation counts each pair once.
enum class PairWeighting { kByRecord, kEach };

// InstructGPT's reward-model loss (Ouyang et al. 2022, eq. 1; TRL 0.12's RewardTrainer per pair:
// -logsigmoid(r_chosen - r_rejected)) for the pairs of sequences [first, first + count) of rows, given
// their scores: each pair's -log sigmoid(margin), weighted as asked. dscores, when given, gets d loss /
// d score for those sequences. Indices are sequences of rows (first even).
PairSums reward_loss(const PairRows& rows, const float* scores, PairWeighting weighting, double scale,
                     float* dscores, size_t first, size_t count);

// DPO's sums: as PairSums (margin: the implicit rewards' difference), the implicit rewards themselves, and
// the chosen replies' negative log-likelihoods per token.
struct DpoSums {
  PairSums pairs;
  double chosen_reward = 0, rejected_reward = 0;  // sums of beta (log pi - log ref) of each reply
  double chosen_nll = 0;                          // sum of -log pi(chosen) / its tokens
  void add(const DpoSums& o) {
    pairs.add(o.pairs);
    chosen_reward += o.chosen_reward;
    rejected_reward += o.rejected_reward;
    chosen_nll += o.chosen_nll;
  }
  static constexpr size_t kDoubles = 7;  // the sums as one array, to add across ranks
};

// DPO's loss (Rafailov et al. 2023, eq. 7; TRL 0.12's DPOTrainer, loss_type "sigmoid") for the pairs of
// sequences [first, first + count): with implicit rewards r = beta (log pi(reply) - log ref(reply)) from
// the policy's and the reference's reply log-probabilities, each pair's -log sigmoid(r_chosen - r_rejected)
// plus rpo_alpha x the chosen reply's negative log-likelihood per token (RPO, Pang et al. 2024, arXiv
// 2404.19733, eq. 1 normalised by the reply's length; TRL 0.12's rpo_alpha takes the mean over the batch's
// chosen tokens instead), weighted as asked. dlogp, when given, gets d loss / d log pi for those sequences.
DpoSums dpo_loss(const PairRows& rows, const double* policy_logp, const double* reference_logp, double beta,
                 double rpo_alpha, PairWeighting weighting, double scale, double* dlogp, size_t first, size_t count);

}  // namespace lmpipe::train
