// pretrain for decoders (GPT-2 and GPT): windows shards in, next-token loss, checkpoints out.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/shard_file.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "nn/layers.h"
#include "nn/runtime.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/pretrain.h"
#include "train/run_metrics.h"
#include "train/run_support.h"
#include "train/training_data.h"

namespace lmpipe::train {
namespace {

nn::GptConfig model_config(const PretrainOptions& o, float dropout, uint32_t data_vocab, size_t data_T) {
  const std::string preset = !o.preset.empty() ? o.preset : o.arch == "gpt1" ? "gpt" : "gpt2";
  auto config = nn::gpt_preset(preset);
  if (!config) throw UsageError(fmt::format("unknown --preset {}", preset));
  config->arch = o.arch == "gpt1" ? nn::GptArch::kGpt1 : nn::GptArch::kGpt2;
  apply_shape_flags(o, dropout, data_vocab, data_T, *config);
  if (config->arch == nn::GptArch::kGpt1 && config->d_ff != 4 * config->d_model)
    throw UsageError(fmt::format("--arch gpt1: the MLP is 4 x --d-model wide (transformers' OpenAIGPT config has no "
                                 "n_inner, so a checkpoint with --d-ff {} could not be loaded)",
                                 config->d_ff));
  config->validate();
  return *config;
}

// The next count windows of T + 1 ids, split into inputs and next-token targets.
void next_windows(RecordLoader& loader, size_t count, size_t T, std::vector<uint32_t>& inputs,
                  std::vector<uint32_t>& targets) {
  inputs.clear();
  targets.clear();
  loader.next(count, [&](const io::RecordView& r, const std::string& path) {
    if (r.ids.size() != T + 1)
      throw Error(fmt::format("{}: a window of {} ids, but this step needs {} (make-pairs --task causal --max-len {})",
                              path, r.ids.size(), T + 1, T));
    inputs.insert(inputs.end(), r.ids.begin(), r.ids.end() - 1);
    targets.insert(targets.end(), r.ids.begin() + 1, r.ids.end());
  });
}

struct Evaluation {
  double loss = 0;
  uint64_t tokens = 0;
};

// Mean cross-entropy over every target of the first `records` windows of the files (all of them when
// there are fewer), in file order. With several ranks, each evaluates every size-th batch and the sums
// are added up.
Evaluation evaluate(nn::GptReplicas<float>& replicas, const DataSet& data, size_t batch, uint64_t records,
                    Distributed& world) {
  std::vector<uint32_t> inputs, targets;
  double sums[2] = {0, 0};  // loss x tokens, tokens
  uint64_t index = 0;
  for (const auto& [T, files] : data.by_length) {
    if (records == 0) break;
    RecordLoader loader(files, {io::RecordKind::kWindows}, false, 0);
    const uint64_t here = std::min(loader.records(), records);
    records -= here;
    for (uint64_t left = here; left > 0; ++index) {
      const size_t n = size_t(std::min<uint64_t>(batch, left));
      left -= n;
      if (index % uint64_t(world.size()) != uint64_t(world.rank())) {
        loader.skip(n);
        continue;
      }
      next_windows(loader, n, T, inputs, targets);
      sums[0] += replicas.forward(inputs.data(), targets.data(), n, T) * double(n * T);
      sums[1] += double(n * T);
    }
  }
  world.allreduce_sum(sums, 2);
  Evaluation e;
  e.tokens = uint64_t(sums[1]);
  e.loss = e.tokens ? sums[0] / sums[1] : 0;
  return e;
}

}  // namespace

void run_gpt_pretrain(const PretrainOptions& options, const Recipe& recipe, ByteSink& out) {
  Distributed& world = Distributed::world();
  const PretrainOptions o = for_this_rank(options, world.root());
  const std::vector<std::string> data_paths = expand_patterns(o.data), val_paths = expand_patterns(o.val);
  const auto [micro, accumulation, share] = check_run_options(o, !data_paths.empty(), size_t(world.size()));
  const SeqLenSchedule schedule = SeqLenSchedule::parse(o.seq_len_schedule);

  // The data decides the sequence length and, unless told otherwise, the vocabulary.
  const std::vector<io::RecordKind> kinds{io::RecordKind::kWindows};
  std::optional<DataSet> data, val;
  if (!data_paths.empty()) data = inspect_data(data_paths, kinds);
  if (!val_paths.empty()) val = inspect_data(val_paths, kinds);
  const DataSet* shape_source = data ? &*data : val ? &*val : nullptr;
  const size_t data_T = shape_source ? shape_source->max_length() : 0;
  const uint32_t data_vocab = shape_source ? shape_source->header.vocab_size : 0;
  const std::string fingerprint = shape_source ? shape_source->header.vocab_fingerprint : "";

  std::optional<LoadedModel> loaded = load_start(o, &load_checkpoint);
  nn::GptConfig config = loaded ? loaded->config : model_config(o, recipe.dropout, data_vocab, data_T);
  if (loaded) {
    config.dropout = recipe.dropout;
    if (data_T > config.max_len)
      throw UsageError(fmt::format("the data's windows are longer than the model's {} positions", config.max_len));
  }
  const size_t T = data_T ? data_T : config.max_len;

  // --thread-parallel batch (the default): the threads take shares of each micro-batch's sequences
  // (nn/gpt_replicas.h), each share's thread with a gradient copy of its own besides the model's.
  nn::set_compute_threads(o.threads);
  const size_t batch_threads = o.thread_parallel == "ops" ? 1 : std::min(size_t(nn::compute_threads()), micro);
  if (o.dry_run) {
    // The LM head's logits come in chunks of up to 256 rows, one chunk per share of the micro-batch.
    const size_t share_rows = (micro + batch_threads - 1) / batch_threads * T;
    const uint64_t activations = config.activation_floats(micro, T) * 4 +
                                 batch_threads * uint64_t(std::min<size_t>(256, share_rows)) * config.vocab_size * 4;
    nlohmann::ordered_json j = dry_run_json(config, micro, T, activations);
    const uint64_t replica_grads = (batch_threads - 1) * config.parameter_count() * 4;
    j["batch_threads"] = batch_threads;
    j["bytes_replica_grads"] = replica_grads;
    j["bytes_total"] = j["bytes_total"].get<uint64_t>() + replica_grads;
    j["flops_per_token"] = config.training_flops_per_token(T);
    const std::string line = j.dump() + "\n";
    if (world.root()) out.write(line.data(), line.size());
    return;
  }

  nn::Gpt<float> model(config);
  if (loaded) {
    model.params() = std::move(loaded->params);
  } else {
    model.init(o.seed);
  }
  world.broadcast(model.params().data(), model.params().size());  // every rank starts from rank 0's weights
  nn::GptReplicas<float> replicas(model, batch_threads);
  if (o.eval_only) {
    const Evaluation e = evaluate(replicas, val ? *val : *data, micro, eval_records(o), world);
    const nlohmann::ordered_json j = {{"loss", e.loss}, {"ppl", std::exp(e.loss)}, {"tokens", e.tokens}};
    const std::string line = j.dump() + "\n";
    if (world.root()) out.write(line.data(), line.size());
    return;
  }

  nn::AdamW adam(model.layout(), adam_options(recipe));
  TrainingData loaders(*data, schedule, o.shuffle, o.seed);
  uint64_t start = 0, tokens_seen = 0;
  if (o.resume) {
    check_resume_settings(*loaded->state, data_paths, o, schedule);
    start = resume_trainer(*loaded->state, adam, loaders, tokens_seen);
  }
  const std::string vocab_dir = find_tokenizer_dir(o.vocab, fingerprint, o.quiet);
  const nlohmann::json settings = run_settings(data_paths, o, schedule);
  const auto checkpoint = [&](uint64_t step) {
    const TrainerStateToSave s = trainer_state(step, tokens_seen, loaders, settings, adam);
    return save_checkpoint(o.out_dir, step, model, vocab_dir, &s);
  };

  RunMetrics log(world.root() ? o.out_dir : "", start, o.log,
                 fmt::format("{} {}x{}, {} heads, context {}: {}", config.arch == nn::GptArch::kGpt2 ? "GPT-2" : "GPT",
                             config.n_layer, config.d_model, config.n_head, config.max_len, o.out_dir));
  warn_about_warmup(recipe, o);
  Progress progress(o.show_progress, "pretrain", o.steps, Progress::Unit::kItems);
  progress.update(start);
  std::vector<uint32_t> inputs, targets;
  const auto t_start = std::chrono::steady_clock::now();
  for (uint64_t step = start; step < o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = nn::learning_rate(step, o.steps, recipe.warmup, recipe.lr, recipe.min_lr, recipe.schedule);
    const size_t step_T = loaders.length_at(step, o.steps);  // a length of the data, which fits the model
    // The model's gradients are zero here: fresh, or zeroed by the last step's update (or skip).
    // This rank's share of the step's windows: the global order is the same for any number of ranks, so
    // N ranks train on exactly the batches one process would.
    const size_t parts = accumulation * size_t(world.size());
    RecordLoader& loader = loaders.loader(step_T);
    loader.skip(uint64_t(world.rank()) * share);
    double loss = 0;
    for (size_t m = 0; m < accumulation; ++m) {
      next_windows(loader, micro, step_T, inputs, targets);
      uint64_t key_state = o.seed ^ (step * 0x9E3779B97F4A7C15ULL + size_t(world.rank()) * accumulation + m);
      replicas.set_dropout_key(splitmix64(key_state));
      loss += replicas.forward_backward(inputs.data(), targets.data(), micro, step_T, 1.0f / float(parts)) / double(parts);
    }
    loader.skip(uint64_t(world.size() - 1 - world.rank()) * share);
    const double squares = replicas.reduce_grads();
    const double reduce_before = world.reduce_seconds();
    world.allreduce_sum(model.grads().data(), model.grads().size());
    world.allreduce_sum(&loss, 1);
    const double reduce_seconds = world.reduce_seconds() - reduce_before;
    // One process: the norm came with the threads' reduction; ranks' sums need a pass of their own.
    const double norm =
        world.size() == 1 ? std::sqrt(squares) : nn::grad_norm(model.grads().data(), model.grads().size());
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      stop_or_skip_nonfinite(o, step, loss, norm);
      log.record({{"step", step}, {"skipped", "non-finite"}, {"loss", std::isfinite(loss) ? loss : -1.0}});
      model.zero_grad();
      continue;
    }
    adam.step_and_zero_grads(model.params().data(), model.grads().data(), lr, nn::clip_scale(norm, recipe.grad_clip));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens_seen += o.batch_size * step_T;
    nlohmann::json record = {{"step", step + 1},
                             {"loss", loss},
                             {"lr", lr},
                             {"grad_norm", norm},
                             {"seq_len", step_T},
                             {"tokens", tokens_seen},
                             {"tokens_per_s", double(o.batch_size * step_T) / seconds},
                             {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()}};
    if (world.size() > 1) record["allreduce_s"] = reduce_seconds;
    log.record(record);
    progress.update(step + 1);
    const bool last = step + 1 == o.steps;
    if (val && ((o.eval_every && (step + 1) % o.eval_every == 0) || last)) {
      const Evaluation e = evaluate(replicas, *val, micro, eval_records(o), world);
      log.record({{"step", step + 1}, {"val_loss", e.loss}, {"val_ppl", std::exp(e.loss)}, {"tokens", tokens_seen}});
      log.plot();
      if (!o.quiet)
        std::fprintf(stderr, "%sstep %llu: loss %.4f, val loss %.4f (ppl %.2f)\n", o.show_progress ? "\n" : "",
                     (unsigned long long)(step + 1), loss, e.loss, std::exp(e.loss));
    }
    if (world.root() && ((o.save_every && (step + 1) % o.save_every == 0) || last)) checkpoint(step + 1);
  }
  log.plot();
  progress.finish();
}

}  // namespace lmpipe::train
