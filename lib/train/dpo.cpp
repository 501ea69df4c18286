// Direct preference optimization (Rafailov et al. 2023, arXiv 2305.18290): the policy, a language model
// started from the SFT model, learns from prefs shards (make-prefs) without a reward model, against a
// frozen reference (the --init-from model, or --ref):
//   r(x, y) = beta (log pi(y | x) - log ref(y | x)),  loss = -log sigmoid(r(x, y_chosen) - r(x, y_rejected))
// as TRL's DPOTrainer computes it (trl 0.12, loss_type "sigmoid"), over the reply's tokens only; with
// --rpo-alpha A, plus A x the chosen reply's negative log-likelihood per token (RPO: on pairs that differ
// in a step of reasoning, DPO alone lowers the chosen reply's likelihood too). Pairs are
// weighted as the reward objective weighs them: the mean over a record's pairs, then over the step's
// records (one pair a record: TRL's mean over pairs). The reference is the policy as it starts (the
// --init-from weights, grown to the data's vocabulary like the policy's) unless --ref names another model;
// its log-probabilities are computed once per step, before the policy's micro-batches, without gradients,
// or with --precompute-ref once for every training record before the first step (TRL's
// precompute_ref_log_probs), kept in memory by the record's content (16 bytes a pair), so that a step
// costs the policy's passes alone. --batch-size counts records.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <unordered_map>

#include <fmt/format.h>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "core/sha256.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "nn/runtime.h"
#include "train/gpt_trainee.h"
#include "train/objective.h"
#include "train/pair_batch.h"

namespace lmpipe::train {
namespace {

// A micro-batch: the pairs' sequences, their next-token rows, and the reference's reply log-probabilities.
struct DpoBatch {
  PairRows rows;
  ReplyTargets targets;
  std::vector<double> reference_logp;
};

class Dpo final : public Objective {
 public:
  explicit Dpo(const ObjectiveSetup& s) : shape_(s.shape), world_(s.world), beta_(s.options.beta),
                                             rpo_alpha_(s.options.rpo_alpha) {
    const auto* config = std::get_if<nn::GptConfig>(&s.config);
    if (config == nullptr || config->head != nn::GptHead::kLm)
      throw UsageError("--objective dpo trains a language model (--arch gpt, --init-from the SFT model)");
    config_ = *config;
    reference_dir_ = s.options.ref;
    if (reference_dir_.empty() && (s.options.resume || s.options.init_from.empty()))
      throw UsageError("--objective dpo needs its reference model: --init-from the SFT model (it is also the "
                       "reference), or --ref DIR (always with --resume)");
    batch_threads_ = s.options.thread_parallel == "ops" ? 1 : size_t(nn::compute_threads());
    const DataSet* data = s.data ? s.data : s.val;
    max_len_ = data ? data->max_length() : config_.max_len;
    if (s.options.precompute_ref && s.data) train_paths_ = s.data->paths;
    quiet_ = s.options.quiet;
  }

  nlohmann::ordered_json dry_run(size_t T) const override {
    // A record of one pair is two sequences; the reference runs the same shapes without gradients. Each
    // thread keeps the head's probabilities at its sequences' reply rows (at most all of them).
    const size_t sequences = 2 * shape_.micro, threads = std::min(batch_threads_, sequences / 2);
    const uint64_t share_rows = (sequences + threads - 1) / threads * T;
    const uint64_t kept = std::min<uint64_t>(nn::Gpt<float>::kKeptHeadBytes, share_rows * config_.vocab_size * 4);
    const uint64_t activations = 2 * config_.activation_floats(sequences, T) * 4 +
                                 threads * (kept + uint64_t(std::min(nn::kHeadRowsPerChunk, sequences * T)) *
                                                       config_.vocab_size * 4);
    nlohmann::ordered_json j = dry_run_json(config_, config_.parameter_count(), sequences, T, activations);
    const uint64_t replica_grads = (threads - 1) * config_.parameter_count() * 4;
    const uint64_t reference = config_.parameter_count() * 4;
    j["batch_threads"] = threads;
    j["bytes_replica_grads"] = replica_grads;
    j["bytes_reference"] = reference;
    j["bytes_total"] = j["bytes_total"].get<uint64_t>() + replica_grads + reference;
    return j;
  }

  void build(std::optional<nn::Buffer<float>> loaded, uint64_t seed) override {
    gpt_.build(config_, std::move(loaded), seed, batch_threads_);
    nn::GptConfig frozen = config_;
    nn::Buffer<float> weights;
    if (reference_dir_.empty()) {
      weights = gpt_.model->params();  // the policy as it starts: no second read of --init-from
    } else {
      checkpoint::LoadedModel ref = checkpoint::load_model_dir(reference_dir_);
      const auto* ref_config = std::get_if<nn::GptConfig>(&ref.config);
      if (ref_config == nullptr || ref_config->head != nn::GptHead::kLm ||
          ref_config->vocab_size != config_.vocab_size || ref_config->max_len < max_len_)
        throw UsageError(fmt::format("--ref {}: the reference must be a language model of the policy's vocabulary "
                                     "({} ids) and at least {} positions",
                                     reference_dir_, config_.vocab_size, max_len_));
      frozen = *ref_config;
      weights = std::move(ref.params);
    }
    frozen.dropout = 0;
    reference_ = std::make_unique<nn::Gpt<float>>(frozen, nn::ModelBuffers::kLayout);
    reference_->params() = std::move(weights);
    reference_replicas_ = std::make_unique<nn::GptReplicas<float>>(*reference_, batch_threads_);
    if (!train_paths_.empty()) precompute_reference();
  }
  nn::Buffer<float>& params() override { return gpt_.model->params(); }
  nn::Buffer<float>& grads() override { return gpt_.model->grads(); }
  const nn::ParameterLayout& layout() const override { return gpt_.model->layout(); }

  void fetch(RecordLoader& loader, size_t, uint64_t, uint64_t) override {
    const std::vector<PrefsRecord> records = take_prefs_records(loader, shape_.share, max_len_);
    batches_.resize(shape_.accumulation);
    for (size_t m = 0; m < shape_.accumulation; ++m)
      prepare(std::span(records).subspan(m * shape_.micro, shape_.micro), batches_[m]);
    step_ = {};
    step_records_ = double(shape_.share) * world_.size();
  }

  void forward_backward(size_t m, uint64_t dropout_key) override {
    gpt_.replicas->set_dropout_key(dropout_key);
    const DpoBatch& b = batches_[m];
    const size_t S = 2 * b.rows.pairs, T = b.targets.Tn;
    policy_logp_.assign(S, 0.0);
    dlogp_.assign(S, 0.0);
    row_scale_.resize(S * T);
    std::vector<DpoSums> shares(S);  // at each share's first sequence, added in order afterwards
    gpt_.replicas->run_shares(S, 2, [&](nn::Gpt<float>& model, size_t first, size_t n) {
      const uint32_t* inputs = b.targets.inputs.data() + first * T;
      const uint32_t* targets = b.targets.targets.data() + first * T;
      model.forward_train(inputs, targets, n, T);
      reply_logps(model.token_losses(), b.targets, first, n, policy_logp_.data());
      shares[first] = dpo_loss(b.rows, policy_logp_.data(), b.reference_logp.data(), beta_, rpo_alpha_,
                               PairWeighting::kByRecord,
                               1.0 / step_records_, dlogp_.data(), first, n);
      reply_row_scales(b.targets, dlogp_.data(), first, n, row_scale_.data());
      model.backward_weighted(row_scale_.data() + first * T, inputs, targets, n, T);
    });
    for (const DpoSums& p : shares) step_.add(p);
  }

  std::optional<double> gather_gradients() override { return gpt_.replicas->reduce_grads(); }
  std::span<double> step_sums() override { return {&step_.pairs.loss, DpoSums::kDoubles}; }
  double step_loss() const override { return step_.pairs.loss; }
  void log_step(nlohmann::json& record) const override {
    const double pairs = step_.pairs.pairs;
    record["loss"] = step_.pairs.loss;
    record["accuracy"] = pairs ? step_.pairs.correct / pairs : 0.0;
    record["chosen_reward"] = pairs ? step_.chosen_reward / pairs : 0.0;
    record["rejected_reward"] = pairs ? step_.rejected_reward / pairs : 0.0;
    record["margin"] = pairs ? step_.pairs.margin / pairs : 0.0;
    record["chosen_nll"] = pairs ? step_.chosen_nll / pairs : 0.0;
    record["pairs"] = uint64_t(pairs);
  }

  void eval_start() override { eval_ = {}; }

  void eval_batch(RecordLoader& loader, size_t n, size_t, uint64_t) override {
    prepare(take_prefs_records(loader, n, max_len_), eval_batch_, false);
    const DpoBatch& b = eval_batch_;
    std::vector<double> policy;
    logps(*gpt_.replicas, b, policy);
    eval_.add(dpo_loss(b.rows, policy.data(), b.reference_logp.data(), beta_, rpo_alpha_, PairWeighting::kEach, 1.0,
                       nullptr, 0, 2 * b.rows.pairs));
  }

  std::span<double> eval_sums() override { return {&eval_.pairs.loss, DpoSums::kDoubles}; }

  // Over every pair evaluated, each counted once: the mean loss, the share of pairs whose implicit reward
  // orders them as the labeller did, the mean implicit rewards and margin, and the chosen replies'
  // negative log-likelihood per token.
  Evaluation evaluation() const override {
    const double pairs = eval_.pairs.pairs;
    const auto mean = [&](double sum) { return pairs ? sum / pairs : 0.0; };
    Evaluation e;
    e.summary = {{"loss", mean(eval_.pairs.loss)},         {"accuracy", mean(eval_.pairs.correct)},
                 {"chosen_reward", mean(eval_.chosen_reward)}, {"rejected_reward", mean(eval_.rejected_reward)},
                 {"margin", mean(eval_.pairs.margin)},         {"chosen_nll", mean(eval_.chosen_nll)},
                 {"pairs", uint64_t(pairs)}};
    e.logged = {{"val_loss", mean(eval_.pairs.loss)}, {"val_accuracy", mean(eval_.pairs.correct)},
                {"val_margin", mean(eval_.pairs.margin)}};
    e.text = fmt::format("val loss {:.4f}, accuracy {:.3f}, margin {:.3f}", mean(eval_.pairs.loss),
                         mean(eval_.pairs.correct), mean(eval_.pairs.margin));
    return e;
  }

 private:
  // The micro-batch's rows and targets, and the reference's reply log-probabilities (no dropout): from
  // the precomputed ones when the records are training records and there are.
  void prepare(std::span<const PrefsRecord> records, DpoBatch& b, bool training = true) {
    make_pair_rows(records, 0, b.rows);
    make_reply_targets(b.rows, b.targets);
    if (!training || reference_cache_.empty()) return logps(*reference_replicas_, b, b.reference_logp);
    b.reference_logp.clear();
    for (const PrefsRecord& r : records) {
      const auto found = reference_cache_.find(record_key(r));
      if (found == reference_cache_.end()) throw Error("a training record the reference's pass did not see");
      b.reference_logp.insert(b.reference_logp.end(), found->second.begin(), found->second.end());
    }
  }

  // A record's key in reference_cache_: the first 8 bytes of the SHA-256 of its ids and part lengths.
  static uint64_t record_key(const PrefsRecord& r) {
    Sha256 h;
    h.update(r.ids.data(), r.ids.size() * sizeof(uint32_t));
    h.update(r.part_lens.data(), r.part_lens.size() * sizeof(uint32_t));
    const std::array<uint8_t, 32> d = h.digest();
    uint64_t key;
    std::memcpy(&key, d.data(), sizeof(key));
    return key;
  }

  // --precompute-ref: one pass over the training files in file order, a micro-batch at a time (the same
  // batches every run, so a resumed run gets the same values).
  void precompute_reference() {
    const auto start = std::chrono::steady_clock::now();
    RecordLoader loader(train_paths_, {io::RecordKind::kPrefs}, false, 0);
    DpoBatch b;
    uint64_t pairs = 0;
    for (uint64_t done = 0; done < loader.records();) {
      const size_t n = size_t(std::min<uint64_t>(shape_.micro, loader.records() - done));
      const std::vector<PrefsRecord> records = take_prefs_records(loader, n, max_len_);
      prepare(records, b, false);
      size_t at = 0;
      for (const PrefsRecord& r : records) {
        const size_t sequences = r.part_lens.size() - 1;
        reference_cache_[record_key(r)].assign(b.reference_logp.begin() + ptrdiff_t(at),
                                               b.reference_logp.begin() + ptrdiff_t(at + sequences));
        at += sequences;
      }
      pairs += b.rows.pairs;
      done += n;
    }
    if (!quiet_)
      std::fprintf(stderr, "pretrain: the reference's log-probabilities of %llu pairs in %.1f s\n",
                   (unsigned long long)pairs,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  // Reply log-probabilities of the batch's sequences under a model, without dropout or gradients.
  static void logps(nn::GptReplicas<float>& replicas, const DpoBatch& b, std::vector<double>& out) {
    const size_t S = 2 * b.rows.pairs, T = b.targets.Tn;
    out.assign(S, 0.0);
    replicas.run_shares(S, 2, [&](nn::Gpt<float>& model, size_t first, size_t n) {
      model.forward(b.targets.inputs.data() + first * T, b.targets.targets.data() + first * T, n, T);
      reply_logps(model.token_losses(), b.targets, first, n, out.data());
    });
  }

  nn::GptConfig config_;
  StepShape shape_;
  Distributed& world_;
  double beta_, rpo_alpha_;
  std::string reference_dir_;  // --ref; empty: the policy's starting weights
  std::vector<std::string> train_paths_;  // --precompute-ref's
  std::unordered_map<uint64_t, std::vector<double>> reference_cache_;  // a training record's sequences' log-probs
  bool quiet_ = false;
  size_t batch_threads_ = 1, max_len_ = 0;
  GptTrainee gpt_;
  std::unique_ptr<nn::Gpt<float>> reference_;
  std::unique_ptr<nn::GptReplicas<float>> reference_replicas_;
  std::vector<DpoBatch> batches_;  // the step's micro-batches
  DpoBatch eval_batch_;
  std::vector<double> policy_logp_, dlogp_;
  std::vector<float> row_scale_;
  double step_records_ = 1;  // records of the step on every rank
  DpoSums step_, eval_;
};

static_assert(sizeof(DpoSums) == DpoSums::kDoubles * sizeof(double), "step_sums hands DpoSums out as doubles");

}  // namespace

std::unique_ptr<Objective> make_dpo(const ObjectiveSetup& setup) { return std::make_unique<Dpo>(setup); }

}  // namespace lmpipe::train
