// pretrain for encoders (BERT, RoBERTa): masked shards (static masking, mask-corpus) or pairs shards
// masked anew every time they are fed (dynamic masking), MLM (+ NSP for BERT), checkpoints out.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "data/masking.h"
#include "nn/bert.h"
#include "nn/runtime.h"
#include "tok/vocab.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/encoder_batch.h"
#include "train/pretrain.h"
#include "train/run_metrics.h"
#include "train/run_support.h"
#include "train/training_data.h"

namespace lmpipe::train {
namespace {

const std::vector<io::RecordKind> kEncoderKinds{io::RecordKind::kPairs, io::RecordKind::kMasked};

nn::BertConfig model_config(const PretrainOptions& o, float dropout, uint32_t data_vocab, size_t data_len) {
  const std::string preset = !o.preset.empty() ? o.preset : o.arch == "bert" ? "bert-base" : "roberta-base";
  std::optional<nn::BertConfig> config = nn::bert_preset(preset);
  if (!config) throw UsageError(fmt::format("unknown --preset {} for --arch {}", preset, o.arch));
  if ((config->arch == nn::EncoderArch::kBert) != (o.arch == "bert"))
    throw UsageError(fmt::format("--preset {} is not a {} shape", preset, o.arch));
  apply_shape_flags(o, dropout, data_vocab, data_len, *config);
  config->validate();
  return *config;
}

// The masker for pairs shards, or none for masked ones. RoBERTa masks as fairseq's MaskTokensDataset counts
// (probabilistic rounding, no cap, random tokens from the non-special ids); BERT as google-research/bert.
std::optional<data::Masker> dynamic_masker(const PretrainOptions& o, const io::ShardHeader& h, const std::string& path) {
  if (h.kind != io::RecordKind::kPairs) return std::nullopt;
  const auto mask = h.special_ids.find("mask");
  if (mask == h.special_ids.end())
    throw Error(fmt::format("{}: the vocabulary has no mask token ([MASK] or <mask>), so it cannot be masked", path));
  data::MaskOptions options;
  options.mask_prob = o.mask_prob;
  options.whole_word = o.whole_word;
  options.max_predictions = 0;
  if (o.arch == "roberta") {
    options.probabilistic_count = true;
    options.random_pool = data::RandomPool::kNonSpecial;
  }
  std::vector<bool> continuations;
  if (o.whole_word) {
    if (o.vocab.empty()) throw UsageError("--whole-word needs the vocabulary (-v VOCAB) to tell which tokens continue a word");
    continuations = data::word_continuations(tok::load_vocab(o.vocab));
  }
  return data::Masker(h.vocab_size, mask->second, data::never_masked_ids(h.special_ids), std::move(continuations), options);
}

uint32_t pad_id(const io::ShardHeader& h) {
  const auto pad = h.special_ids.find("pad");
  return pad == h.special_ids.end() ? 0 : pad->second;  // padding is masked out of attention: any id would do
}

struct Evaluation {
  double mlm_sum = 0, nsp_sum = 0;
  uint64_t masked = 0, mlm_correct = 0, sequences = 0, nsp_correct = 0;
  double mlm_loss() const { return masked ? mlm_sum / double(masked) : 0; }
  double nsp_loss() const { return sequences ? nsp_sum / double(sequences) : 0; }
  double mlm_acc() const { return masked ? double(mlm_correct) / double(masked) : 0; }
  double nsp_acc() const { return sequences ? double(nsp_correct) / double(sequences) : 0; }
};

// MLM loss and accuracy over every masked position, NSP over every sequence, of the first `records`
// records of the files (all of them when there are fewer) in file order. Pairs shards are masked the same
// way at every evaluation (keyed by the record's place), so evaluations compare. With several ranks, each
// evaluates every size-th batch and the sums are added up.
Evaluation evaluate(nn::Bert<float>& model, const DataSet& data, const data::Masker* masker, size_t batch, uint64_t seed,
                    uint64_t records, Distributed& world) {
  EncoderBatchBuilder builder(model.config().arch, pad_id(data.header));
  double sums[6] = {0, 0, 0, 0, 0, 0};  // MLM loss sum, masked, correct; NSP loss sum, correct; sequences
  uint64_t record = 0, index = 0;
  for (const auto& [length, files] : data.by_length) {
    if (records == 0) break;
    RecordLoader loader(files, kEncoderKinds, false, 0);
    const uint64_t here = std::min(loader.records(), records);
    records -= here;
    for (uint64_t left = here; left > 0; ++index) {
      const size_t n = size_t(std::min<uint64_t>(batch, left));
      left -= n;
      if (index % uint64_t(world.size()) != uint64_t(world.rank())) {
        loader.skip(n);
        record += n;
        continue;
      }
      builder.start(length);
      loader.next(n, [&](const io::RecordView& r, const std::string& path) {
        Rng rng(seed, {0x76616c6d61736bULL, record++});  // "valmask"
        builder.add(r, path, masker, rng);
      });
      const nn::EncoderLoss loss = model.forward(builder.batch());
      sums[0] += loss.mlm * double(builder.masked());
      sums[1] += double(builder.masked());
      sums[2] += double(loss.mlm_correct);
      if (model.config().nsp()) {
        sums[3] += loss.nsp * double(n);
        sums[4] += double(loss.nsp_correct);
      }
      sums[5] += double(n);
    }
  }
  world.allreduce_sum(sums, 6);
  Evaluation e;
  e.mlm_sum = sums[0];
  e.masked = uint64_t(sums[1]);
  e.mlm_correct = uint64_t(sums[2]);
  e.nsp_sum = sums[3];
  e.nsp_correct = uint64_t(sums[4]);
  e.sequences = uint64_t(sums[5]);
  return e;
}

nlohmann::ordered_json evaluation_json(const Evaluation& e, bool nsp) {
  nlohmann::ordered_json j = {{"mlm_loss", e.mlm_loss()}, {"mlm_acc", e.mlm_acc()}};
  if (nsp) {
    j["nsp_loss"] = e.nsp_loss();
    j["nsp_acc"] = e.nsp_acc();
  }
  j["loss"] = e.mlm_loss() + (nsp ? e.nsp_loss() : 0.0);
  j["sequences"] = e.sequences;
  j["masked"] = e.masked;
  return j;
}

}  // namespace

void run_encoder_pretrain(const PretrainOptions& options, const Recipe& recipe, ByteSink& out) {
  Distributed& world = Distributed::world();
  const PretrainOptions o = for_this_rank(options, world.root());
  const std::vector<std::string> data_paths = expand_patterns(o.data), val_paths = expand_patterns(o.val);
  const auto [micro, accumulation, share] = check_run_options(o, !data_paths.empty(), size_t(world.size()));
  const SeqLenSchedule schedule = SeqLenSchedule::parse(o.seq_len_schedule);
  if (o.thread_parallel == "batch")
    throw UsageError("--thread-parallel batch is for --arch gpt and gpt1; BERT and RoBERTa share every product "
                     "between the threads (ops)");

  std::optional<DataSet> data, val;
  if (!data_paths.empty()) data = inspect_data(data_paths, kEncoderKinds);
  if (!val_paths.empty()) val = inspect_data(val_paths, kEncoderKinds);
  const DataSet* shape_source = data ? &*data : val ? &*val : nullptr;
  const size_t data_len = shape_source ? shape_source->max_length() : 0;
  const uint32_t data_vocab = shape_source ? shape_source->header.vocab_size : 0;

  std::optional<LoadedEncoder> loaded = load_start(o, &load_encoder_checkpoint);
  nn::BertConfig config = loaded ? loaded->config : model_config(o, recipe.dropout, data_vocab, data_len);
  if (loaded) {
    if ((config.arch == nn::EncoderArch::kBert) != (o.arch == "bert"))
      throw UsageError(fmt::format("{} holds a {} model, not --arch {}", loaded->dir,
                                   config.arch == nn::EncoderArch::kBert ? "bert" : "roberta", o.arch));
    config.dropout = recipe.dropout;
    if (data_len > config.max_len)
      throw UsageError(fmt::format("the data's sequences are longer than the model's {} positions", config.max_len));
    if (data_vocab > config.vocab_size)
      throw UsageError(fmt::format("the data's vocabulary has {} ids, the model {}", data_vocab, config.vocab_size));
  }
  const size_t T = data_len ? data_len : config.max_len;

  if (o.dry_run) {
    // The MLM head runs at the masked positions only, its logits in chunks of up to 256 rows.
    const size_t masked = size_t(std::ceil(double(micro * T) * o.mask_prob));
    const uint64_t activations = config.activation_floats(micro, T, masked) * 4 +
                                 uint64_t(std::min<size_t>(256, masked)) * config.vocab_size * 4;
    const nlohmann::ordered_json j = dry_run_json(config, micro, T, activations);
    const std::string line = j.dump() + "\n";
    if (world.root()) out.write(line.data(), line.size());
    return;
  }
  nn::set_compute_threads(o.threads);

  nn::Bert<float> model(config);
  if (loaded) {
    model.params() = std::move(loaded->params);
  } else {
    model.init(o.seed);
  }
  world.broadcast(model.params().data(), model.params().size());  // every rank starts from rank 0's weights
  const DataSet& eval_set = val ? *val : *data;
  const std::optional<data::Masker> eval_masker = dynamic_masker(o, eval_set.header, eval_set.paths.front());
  const uint64_t eval_seed = o.seed ^ 0x5bd1e9955bd1e995ULL;
  if (o.eval_only) {
    const Evaluation e =
        evaluate(model, eval_set, eval_masker ? &*eval_masker : nullptr, micro, eval_seed, eval_records(o), world);
    const std::string line = evaluation_json(e, config.nsp()).dump() + "\n";
    if (world.root()) out.write(line.data(), line.size());
    return;
  }

  nn::AdamW adam(model.layout(), adam_options(recipe));
  TrainingData loaders(*data, schedule, o.shuffle, o.seed);
  const std::optional<data::Masker> masker = dynamic_masker(o, data->header, data_paths.front());
  uint64_t start = 0, tokens_seen = 0;
  if (o.resume) {
    check_resume_settings(*loaded->state, data_paths, o, schedule);
    start = resume_trainer(*loaded->state, adam, loaders, tokens_seen);
  }
  const std::string vocab_dir = find_tokenizer_dir(o.vocab, data->header.vocab_fingerprint, o.quiet);
  const nlohmann::json settings = run_settings(data_paths, o, schedule);
  const auto checkpoint = [&](uint64_t step) {
    const TrainerStateToSave s = trainer_state(step, tokens_seen, loaders, settings, adam);
    return save_checkpoint(o.out_dir, step, model, vocab_dir, &s);
  };

  const bool bert = config.arch == nn::EncoderArch::kBert;
  RunMetrics log(world.root() ? o.out_dir : "", start, o.log,
                 fmt::format("{} {}x{}, {} heads: {}", bert ? "BERT" : "RoBERTa", config.n_layer, config.d_model,
                             config.n_head, o.out_dir));
  warn_about_warmup(recipe, o);
  Progress progress(o.show_progress, "pretrain", o.steps, Progress::Unit::kItems);
  progress.update(start);
  std::vector<EncoderBatchBuilder> micro_batches(accumulation, EncoderBatchBuilder(config.arch, pad_id(data->header)));
  const auto t_start = std::chrono::steady_clock::now();
  for (uint64_t step = start; step < o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = nn::learning_rate(step, o.steps, recipe.warmup, recipe.lr, recipe.min_lr, recipe.schedule);
    const size_t length = loaders.length_at(step, o.steps);
    // The whole step's examples first: the MLM loss is a mean over all of its masked positions. This rank
    // takes its share of the step's records in the global order, the same for any number of ranks.
    RecordLoader& loader = loaders.loader(length);
    loader.skip(uint64_t(world.rank()) * share);
    uint64_t drawn = uint64_t(world.rank()) * share;  // the record's place in the step: its mask's key
    double masked_here = 0;
    for (EncoderBatchBuilder& b : micro_batches) {
      b.start(length);
      loader.next(micro, [&](const io::RecordView& r, const std::string& path) {
        Rng rng(o.seed, {0x6d61736bULL, step, drawn++});  // "mask": a new mask every time a record is fed
        b.add(r, path, masker ? &*masker : nullptr, rng);
      });
      masked_here += double(b.masked());
    }
    loader.skip(uint64_t(world.size() - 1 - world.rank()) * share);
    double masked_all = masked_here;
    world.allreduce_sum(&masked_all, 1);
    const auto masked = size_t(masked_all);
    // The model's gradients are zero here: fresh, or zeroed by the last step's update (or skip).
    double totals[4] = {0, 0, 0, 0};  // MLM loss, NSP loss (both over the step's counts), MLM and NSP correct
    for (size_t m = 0; m < accumulation; ++m) {
      nn::EncoderBatch batch = micro_batches[m].batch();
      batch.mlm_denominator = std::max<size_t>(masked, 1);
      batch.nsp_denominator = o.batch_size;
      uint64_t key_state = o.seed ^ (step * 0x9E3779B97F4A7C15ULL + size_t(world.rank()) * accumulation + m);
      model.set_dropout_key(splitmix64(key_state));
      const nn::EncoderLoss l = model.forward_backward(batch);
      totals[0] += l.mlm;
      totals[1] += l.nsp;
      totals[2] += double(l.mlm_correct);
      totals[3] += double(l.nsp_correct);
    }
    const double reduce_before = world.reduce_seconds();
    world.allreduce_sum(model.grads().data(), model.grads().size());
    const double reduce_seconds = world.reduce_seconds() - reduce_before;
    world.allreduce_sum(totals, 4);
    nn::EncoderLoss loss;
    loss.mlm = totals[0];
    loss.nsp = totals[1];
    const auto mlm_correct = size_t(totals[2]), nsp_correct = size_t(totals[3]);
    const double norm = nn::grad_norm(model.grads().data(), model.grads().size());
    if (!std::isfinite(loss.total()) || !std::isfinite(norm)) {
      stop_or_skip_nonfinite(o, step, loss.total(), norm);
      log.record({{"step", step}, {"skipped", "non-finite"}});
      model.zero_grad();
      continue;
    }
    adam.step_and_zero_grads(model.params().data(), model.grads().data(), lr, nn::clip_scale(norm, recipe.grad_clip));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens_seen += o.batch_size * length;
    nlohmann::json record = {{"step", step + 1}, {"loss", loss.total()}, {"mlm_loss", loss.mlm},
                             {"mlm_acc", masked ? double(mlm_correct) / double(masked) : 0.0}};
    if (bert) {
      record["nsp_loss"] = loss.nsp;
      record["nsp_acc"] = double(nsp_correct) / double(o.batch_size);
    }
    record.update({{"lr", lr},
                   {"grad_norm", norm},
                   {"seq_len", length},
                   {"tokens", tokens_seen},
                   {"tokens_per_s", double(o.batch_size * length) / seconds},
                   {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()}});
    if (world.size() > 1) record["allreduce_s"] = reduce_seconds;
    log.record(record);
    progress.update(step + 1);
    const bool last = step + 1 == o.steps;
    if (val && ((o.eval_every && (step + 1) % o.eval_every == 0) || last)) {
      const Evaluation e =
          evaluate(model, *val, eval_masker ? &*eval_masker : nullptr, micro, eval_seed, eval_records(o), world);
      nlohmann::json v = {{"step", step + 1}, {"val_loss", e.mlm_loss() + (bert ? e.nsp_loss() : 0.0)},
                          {"val_mlm_loss", e.mlm_loss()}, {"val_mlm_acc", e.mlm_acc()}};
      if (bert) v.update({{"val_nsp_loss", e.nsp_loss()}, {"val_nsp_acc", e.nsp_acc()}});
      v["tokens"] = tokens_seen;
      log.record(v);
      log.plot();
      if (!o.quiet) {
        std::string line = fmt::format("{}step {}: loss {:.4f}, val MLM loss {:.4f} (accuracy {:.3f})",
                                       o.show_progress ? "\n" : "", step + 1, loss.total(), e.mlm_loss(), e.mlm_acc());
        if (bert) line += fmt::format(", NSP loss {:.4f} (accuracy {:.3f})", e.nsp_loss(), e.nsp_acc());
        std::fprintf(stderr, "%s\n", line.c_str());
      }
    }
    if (world.root() && ((o.save_every && (step + 1) % o.save_every == 0) || last)) checkpoint(step + 1);
  }
  log.plot();
  progress.finish();
}

}  // namespace lmpipe::train
