// The masked-language-model objective of BERT and RoBERTa: masked shards (mask-corpus: static masking) or
// pairs shards masked anew every time they are fed (dynamic masking), the loss the mean cross-entropy over
// the step's masked positions, plus BERT's next-sentence loss over its sequences.
#include <algorithm>
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/masking.h"
#include "nn/bert.h"
#include "nn/layers.h"
#include "tok/vocab.h"
#include "train/encoder_batch.h"
#include "train/objective.h"

namespace lmpipe::train {
namespace {

// The masker for pairs shards, or none for masked ones. RoBERTa masks as fairseq's MaskTokensDataset counts
// (probabilistic rounding, no cap, random tokens from the non-special ids); BERT as google-research/bert.
// continuations: which ids continue a word (--whole-word), empty otherwise.
std::optional<data::Masker> dynamic_masker(const PretrainOptions& o, bool roberta, const DataSet& set,
                                           const std::vector<bool>& continuations) {
  const io::ShardHeader& h = set.header;
  if (h.kind != io::RecordKind::kPairs) return std::nullopt;
  const auto mask = h.special_ids.find("mask");
  if (mask == h.special_ids.end())
    throw Error(fmt::format("{}: the vocabulary has no mask token ([MASK] or <mask>), so it cannot be masked",
                            set.paths.front()));
  data::MaskOptions options;
  options.mask_prob = o.mask_prob;
  options.whole_word = o.whole_word;
  options.max_predictions = 0;
  if (roberta) {
    options.probabilistic_count = true;
    options.random_pool = data::RandomPool::kNonSpecial;
  }
  return data::Masker(h.vocab_size, mask->second, data::never_masked_ids(h.special_ids), continuations, options);
}

uint32_t pad_id(const io::ShardHeader& h) {
  const auto pad = h.special_ids.find("pad");
  return pad == h.special_ids.end() ? 0 : pad->second;  // padding is masked out of attention: any id would do
}

class MaskedLm final : public Objective {
 public:
  explicit MaskedLm(const ObjectiveSetup& s) : options_(s.options), shape_(s.shape), world_(s.world), data_(s.data) {
    const auto* config = std::get_if<nn::BertConfig>(&s.config);
    if (config == nullptr)
      throw UsageError(fmt::format("--objective masked-lm trains an encoder (--arch bert or roberta), not a {} model",
                                   nn::model_type(s.config)));
    config_ = *config;
    if (options_.thread_parallel == "batch")
      throw UsageError("--thread-parallel batch is for --arch gpt and gpt1; BERT and RoBERTa share every product "
                       "between the threads (ops)");
    eval_set_ = s.val ? s.val : s.data;
  }

  nlohmann::ordered_json dry_run(size_t T) const override {
    // The MLM head runs at the masked positions only.
    const size_t masked = size_t(std::ceil(double(shape_.micro * T) * options_.mask_prob));
    const uint64_t activations = config_.activation_floats(shape_.micro, T, masked) * 4 +
                                 uint64_t(std::min(nn::kHeadRowsPerChunk, masked)) * config_.vocab_size * 4;
    return dry_run_json(config_, config_.parameter_count(), shape_.micro, T, activations);
  }

  void build(std::optional<nn::Buffer<float>> loaded, uint64_t seed) override {
    model_ = std::make_unique<nn::Bert<float>>(config_);
    if (loaded) {
      model_->params() = std::move(*loaded);
    } else {
      model_->init(seed);
    }
    const bool roberta = config_.arch == nn::EncoderArch::kRoberta;
    const bool pairs = (eval_set_ && eval_set_->header.kind == io::RecordKind::kPairs) ||
                       (data_ && data_->header.kind == io::RecordKind::kPairs);
    std::vector<bool> continuations;  // read once for both maskers
    if (options_.whole_word && pairs) {
      if (options_.vocab.empty())
        throw UsageError("--whole-word needs the vocabulary (-v VOCAB) to tell which tokens continue a word");
      continuations = data::word_continuations(tok::load_vocab(options_.vocab));
    }
    if (eval_set_ != nullptr) {
      eval_masker_ = dynamic_masker(options_, roberta, *eval_set_, continuations);
      eval_builder_ = std::make_unique<EncoderBatchBuilder>(config_.arch, pad_id(eval_set_->header));
    }
    if (data_ != nullptr) {
      masker_ = dynamic_masker(options_, roberta, *data_, continuations);
      micro_batches_.assign(shape_.accumulation, EncoderBatchBuilder(config_.arch, pad_id(data_->header)));
    }
  }
  nn::Buffer<float>& params() override { return model_->params(); }
  nn::Buffer<float>& grads() override { return model_->grads(); }
  const nn::ParameterLayout& layout() const override { return model_->layout(); }

  // The whole step's examples first: the MLM loss is a mean over all of the step's masked positions, on
  // every rank.
  void fetch(RecordLoader& loader, size_t length, uint64_t step, uint64_t first) override {
    uint64_t drawn = first;  // the record's place in the step: its mask's key
    double masked_here = 0;
    for (EncoderBatchBuilder& b : micro_batches_) {
      b.start(length);
      loader.next(shape_.micro, [&](const io::RecordView& r, const std::string& path) {
        Rng rng(options_.seed, {0x6d61736bULL, step, drawn++});  // "mask": a new mask every time a record is fed
        b.add(r, path, masker_ ? &*masker_ : nullptr, rng);
      });
      masked_here += double(b.masked());
    }
    double masked_all = masked_here;
    world_.allreduce_sum(&masked_all, 1);
    masked_ = size_t(masked_all);
    std::fill(std::begin(sums_), std::end(sums_), 0.0);
  }

  void forward_backward(size_t m, uint64_t dropout_key) override {
    nn::EncoderBatch batch = micro_batches_[m].batch();
    batch.mlm_denominator = std::max<size_t>(masked_, 1);
    batch.nsp_denominator = options_.batch_size;
    model_->set_dropout_key(dropout_key);
    const nn::EncoderLoss l = model_->forward_backward(batch);
    sums_[kMlm] += l.mlm;
    sums_[kNsp] += l.nsp;
    sums_[kMlmCorrect] += double(l.mlm_correct);
    sums_[kNspCorrect] += double(l.nsp_correct);
  }

  std::optional<double> gather_gradients() override { return std::nullopt; }
  std::span<double> step_sums() override { return sums_; }
  double step_loss() const override { return sums_[kMlm] + sums_[kNsp]; }

  void log_step(nlohmann::json& record) const override {
    const auto mlm_correct = size_t(sums_[kMlmCorrect]), nsp_correct = size_t(sums_[kNspCorrect]);
    record["loss"] = step_loss();
    record["mlm_loss"] = sums_[kMlm];
    record["mlm_acc"] = masked_ ? double(mlm_correct) / double(masked_) : 0.0;
    if (config_.nsp()) {
      record["nsp_loss"] = sums_[kNsp];
      record["nsp_acc"] = double(nsp_correct) / double(options_.batch_size);
    }
  }

  void eval_start() override { std::fill(std::begin(eval_sums_), std::end(eval_sums_), 0.0); }

  // Pairs shards are masked the same way at every evaluation (keyed by the record's place), so that
  // evaluations compare.
  void eval_batch(RecordLoader& loader, size_t n, size_t length, uint64_t first) override {
    EncoderBatchBuilder& builder = *eval_builder_;
    builder.start(length);
    uint64_t record = first;
    loader.next(n, [&](const io::RecordView& r, const std::string& path) {
      Rng rng(eval_seed(), {0x76616c6d61736bULL, record++});  // "valmask"
      builder.add(r, path, eval_masker_ ? &*eval_masker_ : nullptr, rng);
    });
    const nn::EncoderLoss loss = model_->forward(builder.batch());
    eval_sums_[kEvalMlm] += loss.mlm * double(builder.masked());
    eval_sums_[kEvalMasked] += double(builder.masked());
    eval_sums_[kEvalMlmCorrect] += double(loss.mlm_correct);
    if (config_.nsp()) {
      eval_sums_[kEvalNsp] += loss.nsp * double(n);
      eval_sums_[kEvalNspCorrect] += double(loss.nsp_correct);
    }
    eval_sums_[kEvalSequences] += double(n);
  }

  std::span<double> eval_sums() override { return eval_sums_; }

  // MLM loss and accuracy over every masked position evaluated, NSP over every sequence.
  Evaluation evaluation() const override {
    const auto masked = uint64_t(eval_sums_[kEvalMasked]), sequences = uint64_t(eval_sums_[kEvalSequences]);
    const double mlm_loss = masked ? eval_sums_[kEvalMlm] / double(masked) : 0;
    const double mlm_acc = masked ? double(uint64_t(eval_sums_[kEvalMlmCorrect])) / double(masked) : 0;
    const double nsp_loss = sequences ? eval_sums_[kEvalNsp] / double(sequences) : 0;
    const double nsp_acc = sequences ? double(uint64_t(eval_sums_[kEvalNspCorrect])) / double(sequences) : 0;
    const bool nsp = config_.nsp();
    Evaluation e;
    e.summary = {{"mlm_loss", mlm_loss}, {"mlm_acc", mlm_acc}};
    if (nsp) {
      e.summary["nsp_loss"] = nsp_loss;
      e.summary["nsp_acc"] = nsp_acc;
    }
    e.summary["loss"] = mlm_loss + (nsp ? nsp_loss : 0.0);
    e.summary["sequences"] = sequences;
    e.summary["masked"] = masked;
    e.logged = {{"val_loss", mlm_loss + (nsp ? nsp_loss : 0.0)}, {"val_mlm_loss", mlm_loss}, {"val_mlm_acc", mlm_acc}};
    if (nsp) e.logged.update({{"val_nsp_loss", nsp_loss}, {"val_nsp_acc", nsp_acc}});
    e.text = fmt::format("val MLM loss {:.4f} (accuracy {:.3f})", mlm_loss, mlm_acc);
    if (nsp) e.text += fmt::format(", NSP loss {:.4f} (accuracy {:.3f})", nsp_loss, nsp_acc);
    return e;
  }

 private:
  enum StepSum { kMlm, kNsp, kMlmCorrect, kNspCorrect, kStepSums };
  enum EvalSum { kEvalMlm, kEvalMasked, kEvalMlmCorrect, kEvalNsp, kEvalNspCorrect, kEvalSequences, kEvalSums };

  uint64_t eval_seed() const { return options_.seed ^ 0x5bd1e9955bd1e995ULL; }

  const PretrainOptions& options_;
  nn::BertConfig config_;
  StepShape shape_;
  Distributed& world_;
  const DataSet* data_;
  const DataSet* eval_set_;
  std::unique_ptr<nn::Bert<float>> model_;
  std::optional<data::Masker> masker_, eval_masker_;

  std::vector<EncoderBatchBuilder> micro_batches_;  // the step's
  size_t masked_ = 0;                               // masked positions in the step, over every rank
  double sums_[kStepSums] = {};
  std::unique_ptr<EncoderBatchBuilder> eval_builder_;
  double eval_sums_[kEvalSums] = {};
};

}  // namespace

std::unique_ptr<Objective> make_masked_lm(const ObjectiveSetup& setup) { return std::make_unique<MaskedLm>(setup); }

}  // namespace lmpipe::train
