// pretrain's training loop, one for every objective (train/objective.h says what an objective brings):
// look at the data, build the model, then for each step fetch a batch, forward and backward, reduce
// across threads and ranks, clip, update, log, evaluate and checkpoint. --dry-run and --eval-only stop
// on the way; --resume starts the loop where a checkpoint left it, bit for bit.
#include "train/pretrain.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "nn/onednn_gemm.h"
#include "nn/optimizer.h"
#include "nn/runtime.h"
#include "train/distributed.h"
#include "train/model_setup.h"
#include "train/objective.h"
#include "train/run_dir.h"
#include "train/run_metrics.h"
#include "train/seq_len_schedule.h"
#include "train/training_data.h"
#include "tok/chat_template.h"
#include "tok/tokenizer.h"

namespace lmpipe::train {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Checks the flags every run needs (data, -o and --steps to train, -o not holding another run unless
// --resume or --overwrite; what --eval-only starts from; a global batch that ranks times micro-batches
// divide) and returns how each rank's share of a step splits.
StepShape check_run_options(const PretrainOptions& o, bool have_data, size_t ranks, bool root) {
  const bool training = !o.eval_only && !o.dry_run;
  if (training && !have_data) throw UsageError("give the training data with --data");
  if (training && o.out_dir.empty()) throw UsageError("give the checkpoint directory with -o");
  if (training && o.steps == 0) throw UsageError("give the number of optimizer steps with --steps");
  if (o.eval_only && o.init_from.empty() && !o.resume) throw UsageError("--eval-only needs --init-from or --resume");
  if (o.resume && o.overwrite) throw UsageError("--resume continues the run in -o, --overwrite replaces it: give one");
  if (training && !o.resume && !o.overwrite && root) {
    const std::string held = existing_run(o.out_dir);
    if (!held.empty())
      throw UsageError(fmt::format("{} already holds a run ({}): --resume continues it, --overwrite replaces it, or give "
                                   "another -o",
                                   o.out_dir, held));
  }
  if (ranks > 1 && (o.batch_size == 0 || o.batch_size % ranks != 0))
    throw UsageError(fmt::format("--batch-size {} is the global batch and must be shared by the {} ranks: make it a "
                                 "multiple of {}",
                                 o.batch_size, ranks, ranks));
  const size_t share = o.batch_size / ranks;
  const size_t micro = o.micro_batch ? o.micro_batch : share;
  if (micro == 0 || share % micro != 0) {
    if (ranks > 1)
      throw UsageError(fmt::format("--batch-size {} must be {} ranks x --micro-batch {} x accumulation steps; each "
                                   "rank's {} sequences are not a multiple of {} (try --micro-batch {})",
                                   o.batch_size, ranks, micro, share, micro, share));
    throw UsageError(fmt::format("--batch-size {} must be a multiple of --micro-batch {}", o.batch_size, micro));
  }
  return {micro, share / micro, share};
}

// The options as a rank runs them: ranks other than 0 print nothing and write no files.
PretrainOptions for_this_rank(const PretrainOptions& o, bool root) {
  PretrainOptions r = o;
  if (!root) {
    r.quiet = true;
    r.show_progress = false;
    r.log.clear();
  }
  return r;
}

// How many validation records an evaluation reads: --eval-iters batches of --batch-size, or all of them.
uint64_t eval_records(const PretrainOptions& o) {
  const uint64_t all = std::numeric_limits<uint64_t>::max();
  if (o.eval_iters == 0 || o.batch_size == 0 || o.eval_iters > all / o.batch_size) return all;
  return o.eval_iters * o.batch_size;
}

// The model to start from: --resume's latest checkpoint, --init-from's, or none.
std::optional<checkpoint::LoadedModel> load_start(const PretrainOptions& o) {
  if (o.resume) {
    const std::string latest = o.out_dir + "/latest";
    if (!fs::exists(latest)) throw Error(fmt::format("--resume: {} has no checkpoint (no {})", o.out_dir, latest));
    return checkpoint::load_model_dir(latest);
  }
  if (!o.init_from.empty()) return checkpoint::load_model_dir(o.init_from);
  return std::nullopt;
}

nn::AdamWOptions adam_options(const Recipe& recipe) {
  nn::AdamWOptions a;
  a.beta1 = recipe.beta1;
  a.beta2 = recipe.beta2;
  a.eps = recipe.eps;
  a.weight_decay = recipe.weight_decay;
  a.bias_correction = recipe.bias_correction;
  return a;
}

// The settings a run starts with: the data position means the same thing only for the same data, batch
// and lengths, so --resume checks these.
nlohmann::json run_settings(const std::vector<std::string>& data_paths, const PretrainOptions& o,
                            const SeqLenSchedule& schedule) {
  const size_t micro = o.micro_batch ? o.micro_batch : o.batch_size;
  nlohmann::json settings = {{"arch", o.arch},       {"data", data_paths}, {"batch_size", o.batch_size},
                             {"micro_batch", micro}, {"steps", o.steps},   {"seed", o.seed},
                             {"seq_len_schedule", schedule.spec()}};
  if (o.arch == "llava") settings["freeze"] = o.freeze;  // the optimizer's moments are the trained tensors'
  return settings;
}

// Throws UsageError saying which setting differs from the resumed run's.
void check_resume_settings(const TrainerState& state, const nlohmann::json& now, const PretrainOptions& o,
                           const SeqLenSchedule& schedule) {
  const auto differs = [&](const char* key) { return state.settings.contains(key) && state.settings[key] != now[key]; };
  if (differs("data")) throw UsageError("--resume: --data differs from the run's; start a new run with --init-from");
  if (differs("batch_size"))
    throw UsageError(fmt::format("--resume: --batch-size {} differs from the run's {}", o.batch_size,
                                 state.settings["batch_size"].dump()));
  if (differs("seq_len_schedule"))
    throw UsageError(fmt::format("--resume: --seq-len-schedule \"{}\" differs from the run's {}", schedule.spec(),
                                 state.settings["seq_len_schedule"].dump()));
  if (differs("arch")) throw UsageError(fmt::format("--resume: --arch {} differs from the run's", o.arch));
  if (differs("freeze"))
    throw UsageError(fmt::format("--resume: --freeze {} differs from the run's {}", o.freeze,
                                 state.settings["freeze"].dump()));
}

// On stderr unless quiet: a warmup at least as long as the run never reaches the peak rate.
void warn_about_warmup(const Recipe& recipe, const PretrainOptions& o) {
  if (o.quiet || recipe.warmup < o.steps || o.steps == 0) return;
  const std::string source = o.warmup ? "" : " (the " + recipe.name + " recipe's; give --warmup to change it)";
  std::fprintf(stderr, "pretrain: warning: --warmup %llu%s is not shorter than --steps %llu: the learning rate never "
               "reaches its peak\n",
               (unsigned long long)recipe.warmup, source.c_str(), (unsigned long long)o.steps);
}

// The tokenizer the checkpoints get: the files of the data's vocabulary (vocab_dir, "" when unknown), and
// for chat data the ChatML template's tokenizer_config.json and special_tokens_map.json.
checkpoint::TokenizerFiles tokenizer_for_checkpoints(const PretrainOptions& o, const std::string& vocab_dir,
                                                     const DataSet& data, const nn::ModelConfig& config) {
  if (vocab_dir.empty()) {
    if (!o.quiet)
      std::fprintf(stderr, "pretrain: warning: no tokenizer files match the data's vocabulary: checkpoints will have "
                           "none (give the tokenizer directory with -v, or sample needs -v later)\n");
    return {};
  }
  checkpoint::TokenizerFiles files{vocab_dir, {}};
  const bool chat_template = data.header.kind == io::RecordKind::kChat || data.header.kind == io::RecordKind::kPrefs ||
                             (data.header.kind == io::RecordKind::kImages && data.header.extra.contains("template"));
  if (chat_template)
    files.extra = tok::ChatMlTemplate(*tok::Tokenizer::load(vocab_dir)).hf_tokenizer_files(nn::shape_of(config).max_len);
  return files;
}

// A step whose loss or gradient norm is not finite: throws Error naming the last good checkpoint, unless
// --skip-nonfinite (then returns, and the caller skips the update).
void stop_or_skip_nonfinite(const PretrainOptions& o, uint64_t step, double loss, double norm) {
  if (o.skip_nonfinite) return;
  std::error_code ec;
  const std::string latest = o.out_dir + "/latest";
  const std::string last = fs::is_symlink(latest, ec) ? fs::read_symlink(latest, ec).string() : "none";
  throw Error(fmt::format("step {}: the loss or the gradient is not finite (loss {}, gradient norm {}); the last good "
                          "checkpoint is {} (rerun with a lower --lr, or --skip-nonfinite)",
                          step, loss, norm, last));
}

// The objective's figures over the first `records` records of the set (all of them when there are fewer),
// in file order, in batches of `batch`. With several ranks, each evaluates every size-th batch and the
// sums are added up.
Evaluation evaluate(Objective& objective, const ObjectiveInfo& info, const DataSet& set, size_t batch, uint64_t records,
                    Distributed& world) {
  objective.eval_start();
  uint64_t record = 0, index = 0;
  for (const auto& [length, files] : set.by_length) {
    if (records == 0) break;
    RecordLoader loader(files, info.kinds, false, 0);
    const uint64_t here = std::min(loader.records(), records);
    records -= here;
    for (uint64_t left = here; left > 0; ++index) {
      const size_t n = size_t(std::min<uint64_t>(batch, left));
      left -= n;
      if (index % uint64_t(world.size()) == uint64_t(world.rank())) {
        objective.eval_batch(loader, n, length, record);
      } else {
        loader.skip(n);
      }
      record += n;
    }
  }
  const std::span<double> sums = objective.eval_sums();
  world.allreduce_sum(sums.data(), sums.size());
  return objective.evaluation();
}

void write_line(ByteSink& out, const std::string& line, const Distributed& world) {
  if (!world.root()) return;
  out.write(line.data(), line.size());
  out.write("\n", 1);
}

}  // namespace

Recipe resolve_recipe(const PretrainOptions& o) {
  const std::string name = o.recipe.empty() ? default_recipe(o.arch) : o.recipe;
  std::optional<Recipe> recipe = find_recipe(name);
  if (!recipe) throw UsageError(fmt::format("unknown --recipe {}", name));
  Recipe& r = *recipe;
  if (o.lr) r.lr = *o.lr;
  if (o.min_lr) r.min_lr = *o.min_lr;
  if (o.warmup) r.warmup = *o.warmup;
  if (o.schedule) r.schedule = *o.schedule;
  if (o.weight_decay) r.weight_decay = *o.weight_decay;
  if (o.beta1) r.beta1 = *o.beta1;
  if (o.beta2) r.beta2 = *o.beta2;
  if (o.eps) r.eps = *o.eps;
  if (o.grad_clip) r.grad_clip = *o.grad_clip;
  if (o.dropout) r.dropout = *o.dropout;
  if (r.min_lr < 0) r.min_lr = r.lr / 10;
  return r;
}

void run_pretrain(const PretrainOptions& options, ByteSink& out) {
  Distributed& world = Distributed::world();
  const PretrainOptions o = for_this_rank(options, world.root());
  const Recipe recipe = resolve_recipe(o);
  const ObjectiveInfo& info = find_objective(o.objective.empty() ? default_objective(o.arch) : o.objective);
  if ((o.precompute_ref || !o.ref.empty() || o.rpo_alpha != 0) && info.name != "dpo")
    throw UsageError(fmt::format("{} is DPO's (--objective dpo)",
                                 o.precompute_ref ? "--precompute-ref" : o.ref.empty() ? "--rpo-alpha" : "--ref"));
  if (o.arch != "llava" && (!o.vision.empty() || !o.init_vision_from.empty()))
    throw UsageError(fmt::format("{} is --arch llava's", o.vision.empty() ? "--init-vision-from" : "--vision"));
  const std::vector<std::string> data_paths = expand_patterns(o.data), val_paths = expand_patterns(o.val);
  const StepShape shape = check_run_options(o, !data_paths.empty(), size_t(world.size()), world.root());
  const SeqLenSchedule schedule = SeqLenSchedule::parse(o.seq_len_schedule);

  // The data: its headers say the sequence lengths and the vocabulary, which size a new model.
  std::optional<DataSet> data, val;
  if (!data_paths.empty()) data = inspect_data(data_paths, info.kinds);
  if (!val_paths.empty()) val = inspect_data(val_paths, info.kinds);
  if (data && val) check_same_vocabulary(*data, *val);
  const DataSet* shape_source = data ? &*data : val ? &*val : nullptr;
  const size_t data_len = shape_source ? shape_source->max_length() : 0;
  const uint32_t data_vocab = shape_source ? shape_source->header.vocab_size : 0;

  // The model: a checkpoint's (--resume, --init-from) or a new one; every shard must fit it. A model
  // started from grows to the training data's vocabulary when that extends its own (chat markers added).
  std::optional<checkpoint::LoadedModel> loaded = load_start(o);
  const bool training = data && !o.eval_only;
  const std::string vocab_dir = training ? find_tokenizer_dir(o.vocab, data->header) : "";
  if (loaded && training && !o.resume) grow_vocabulary(*loaded, *data, vocab_dir, o.quiet);
  if (o.arch == "llava")
    loaded = llava_start(o, std::move(loaded), shape_source ? &shape_source->header : nullptr, recipe.dropout,
                         data_vocab, data_len);
  std::optional<TrainerState> state;
  // A reward model starts from a language model with its head replaced, or from nothing with a score head.
  if (info.score_head && loaded && std::holds_alternative<nn::GptConfig>(loaded->config) &&
      std::get<nn::GptConfig>(loaded->config).head == nn::GptHead::kLm)
    attach_score_head(*loaded, shape_source ? padding_id(shape_source->header) : 0, o.seed);
  nn::ModelConfig config = loaded ? loaded->config : model_from_flags(o, recipe.dropout, data_vocab, data_len);
  if (info.score_head && !loaded && std::holds_alternative<nn::GptConfig>(config)) {
    auto& gpt = std::get<nn::GptConfig>(config);
    gpt.head = nn::GptHead::kScore;
    if (shape_source) gpt.pad_token_id = padding_id(shape_source->header);
  }
  if (loaded) {
    check_arch(config, o.arch, loaded->dir);
    nn::shape_of(config).dropout = recipe.dropout;
  }
  const std::string resume_dir = o.resume && loaded ? loaded->dir : "";
  if (data) check_data_fits(*data, config, "--data");
  if (val) check_data_fits(*val, config, "--val");
  const size_t T = data_len ? data_len : nn::shape_of(config).max_len;
  nn::shape_of(config).check_batch(shape.micro, T);

  nn::set_compute_threads(o.threads);
  nn::select_precision(o.precision, "pretrain", o.quiet);
  const std::unique_ptr<Objective> objective =
      info.make({o, config, data ? &*data : nullptr, val ? &*val : nullptr, shape, world});
  // Rank 0 writes the run directory, alone.
  std::optional<RunLock> lock;
  if (world.root() && !o.dry_run && !o.eval_only) lock.emplace(o.out_dir, "pretrain");
  // Every check that can refuse the run is behind us: the ranks agree to go on, or all leave with the one
  // error reported once.
  world.agree_to_go_on();
  if (o.dry_run) return write_line(out, objective->dry_run(T).dump(), world);

  // Build the model; every rank starts from rank 0's weights.
  objective->build(loaded ? std::optional(std::move(loaded->params)) : std::nullopt, o.seed);
  nn::Buffer<float>& params = objective->params();
  nn::Buffer<float>& grads = objective->grads();
  world.broadcast(params.data(), params.size());
  // The weights the bf16 products read, converted again after every update.
  const auto params_bf16 = nn::copy_for_bf16_products(params.data(), params.size());
  if (o.eval_only)
    return write_line(out, evaluate(*objective, info, val ? *val : *data, shape.micro, eval_records(o), world).summary.dump(),
                      world);

  if (lock && o.overwrite) clear_run(o.out_dir);
  nn::AdamW adam(objective->layout(), adam_options(recipe));
  if (!resume_dir.empty()) state = load_trainer_state(resume_dir, std::nullopt);
  TrainingData loaders(*data, schedule, o.shuffle, o.seed);
  const nlohmann::json settings = run_settings(data_paths, o, schedule);
  uint64_t start = 0, tokens_seen = 0;
  if (state) {
    check_resume_settings(*state, settings, o, schedule);
    // The moments are the trained tensors' (an objective may freeze some).
    if (state->adam_m.size() != adam.m().size())
      throw Error(fmt::format("{}: the trainer state's optimizer moments do not fit the model", resume_dir));
    adam.m() = std::move(state->adam_m);
    adam.v() = std::move(state->adam_v);
    adam.set_steps(state->adam_steps);
    loaders.restore(state->data);
    tokens_seen = state->tokens;
    start = state->step;
  }
  const checkpoint::TokenizerFiles tokenizer = tokenizer_for_checkpoints(o, vocab_dir, *data, config);
  RunMetrics log(world.root() ? o.out_dir : "", start, o.log, nn::describe(config) + ": " + o.out_dir);
  warn_about_warmup(recipe, o);
  Progress progress(o.show_progress, "pretrain", o.steps, Progress::Unit::kItems);
  progress.update(start);
  const auto t_start = Clock::now();
  for (uint64_t step = start; step < o.steps; ++step) {
    const auto t0 = Clock::now();
    const double lr = nn::learning_rate(step, o.steps, recipe.warmup, recipe.lr, recipe.min_lr, recipe.schedule);
    const size_t length = loaders.length_at(step, o.steps);  // a length of the data, which fits the model

    // Fetch this rank's share of the step's records. The global order is the same for any number of
    // ranks, so N ranks train on exactly the batches one process would.
    RecordLoader& loader = loaders.loader(length);
    const uint64_t first = uint64_t(world.rank()) * shape.share;
    loader.skip(first);
    objective->fetch(loader, length, step, first);
    loader.skip(uint64_t(world.size() - 1 - world.rank()) * shape.share);

    // Forward and backward, micro-batch by micro-batch, the gradients adding up (they start the step at
    // zero: fresh, or zeroed by the last update or skip).
    for (size_t m = 0; m < shape.accumulation; ++m) {
      uint64_t key_state = o.seed ^ (step * 0x9E3779B97F4A7C15ULL + size_t(world.rank()) * shape.accumulation + m);
      objective->forward_backward(m, splitmix64(key_state));
    }

    // Reduce: the threads' gradients, then the ranks' gradients and the objective's sums.
    const std::optional<double> squares = objective->gather_gradients();
    const double reduce_before = world.reduce_seconds();
    world.allreduce_sum(grads.data(), grads.size());
    const double reduce_seconds = world.reduce_seconds() - reduce_before;
    const std::span<double> sums = objective->step_sums();
    world.allreduce_sum(sums.data(), sums.size());
    const double loss = objective->step_loss();
    // One process: the norm came with the threads' reduction; ranks' sums need a pass of their own.
    const double norm = world.size() == 1 && squares ? std::sqrt(*squares) : nn::grad_norm(grads.data(), grads.size());
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      stop_or_skip_nonfinite(o, step, loss, norm);
      log.record({{"step", step}, {"skipped", "non-finite"}, {"loss", std::isfinite(loss) ? loss : -1.0}});
      std::fill(grads.begin(), grads.end(), 0.0f);
      continue;
    }

    // Clip and update.
    adam.step_and_zero_grads(params.data(), grads.data(), lr, nn::clip_scale(norm, recipe.grad_clip));
    if (params_bf16) params_bf16->refresh();

    // Log.
    tokens_seen += o.batch_size * length;
    nlohmann::json record = {{"step", step + 1},
                             {"lr", lr},
                             {"grad_norm", norm},
                             {"seq_len", length},
                             {"tokens", tokens_seen},
                             {"tokens_per_s", double(o.batch_size * length) / seconds_since(t0)},
                             {"elapsed_s", seconds_since(t_start)}};
    objective->log_step(record);
    if (world.size() > 1) record["allreduce_s"] = reduce_seconds;
    log.record(record);
    progress.update(step + 1);

    // Evaluate.
    const bool last = step + 1 == o.steps;
    if (val && ((o.eval_every && (step + 1) % o.eval_every == 0) || last)) {
      const Evaluation e = evaluate(*objective, info, *val, shape.micro, eval_records(o), world);
      nlohmann::json v = e.logged;
      v.update({{"step", step + 1}, {"tokens", tokens_seen}});
      log.record(v);
      log.plot();
      if (!o.quiet)
        std::fprintf(stderr, "%s\n",
                     fmt::format("{}step {}: loss {:.4f}, {}", o.show_progress ? "\n" : "", step + 1, loss, e.text).c_str());
    }

    // Checkpoint.
    if (world.root() && ((o.save_every && (step + 1) % o.save_every == 0) || last)) {
      TrainerStateToSave s{step + 1, tokens_seen, loaders.state(), settings, adam.m(), adam.v(), adam.steps()};
      save_checkpoint(o.out_dir, step + 1, config, params.data(), tokenizer, &s);
    }
  }
  log.plot();
  progress.finish();
}

}  // namespace lmpipe::train
