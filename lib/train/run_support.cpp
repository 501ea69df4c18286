#include "train/run_support.h"

#include <cstdio>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::train {
namespace fs = std::filesystem;

StepShape check_run_options(const PretrainOptions& o, bool have_data, size_t ranks) {
  const bool training = !o.eval_only && !o.dry_run;
  if (training && !have_data) throw UsageError("give the training data with --data");
  if (training && o.out_dir.empty()) throw UsageError("give the checkpoint directory with -o");
  if (training && o.steps == 0) throw UsageError("give the number of optimizer steps with --steps");
  if (o.eval_only && o.init_from.empty() && !o.resume) throw UsageError("--eval-only needs --init-from or --resume");
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

uint64_t eval_records(const PretrainOptions& o) {
  const uint64_t all = std::numeric_limits<uint64_t>::max();
  if (o.eval_iters == 0 || o.batch_size == 0 || o.eval_iters > all / o.batch_size) return all;
  return o.eval_iters * o.batch_size;
}

PretrainOptions for_this_rank(const PretrainOptions& o, bool root) {
  PretrainOptions r = o;
  if (!root) {
    r.quiet = true;
    r.show_progress = false;
    r.log.clear();
  }
  return r;
}

template <class Config>
std::optional<Loaded<Config>> load_start(const PretrainOptions& o, CheckpointLoader<Config> load) {
  std::optional<Loaded<Config>> loaded;
  if (!o.init_from.empty()) loaded = load(o.init_from, TrainerStateUse::kSkip);
  if (o.resume) {
    const std::string latest = o.out_dir + "/latest";
    if (!fs::exists(latest)) throw Error(fmt::format("--resume: {} has no checkpoint (no {})", o.out_dir, latest));
    loaded = load(latest, TrainerStateUse::kLoad);
    if (!loaded->state) throw Error(fmt::format("--resume: {} has no trainer state", latest));
  }
  return loaded;
}
template std::optional<LoadedModel> load_start(const PretrainOptions&, CheckpointLoader<nn::GptConfig>);
template std::optional<LoadedEncoder> load_start(const PretrainOptions&, CheckpointLoader<nn::BertConfig>);

nn::AdamWOptions adam_options(const Recipe& recipe) {
  nn::AdamWOptions a;
  a.beta1 = recipe.beta1;
  a.beta2 = recipe.beta2;
  a.eps = recipe.eps;
  a.weight_decay = recipe.weight_decay;
  a.bias_correction = recipe.bias_correction;
  return a;
}

uint64_t resume_trainer(TrainerState& state, nn::AdamW& adam, TrainingData& loaders, uint64_t& tokens) {
  adam.m() = std::move(state.adam_m);
  adam.v() = std::move(state.adam_v);
  adam.set_steps(state.adam_steps);
  loaders.restore(state.data);
  tokens = state.tokens;
  return state.step;
}

TrainerStateToSave trainer_state(uint64_t step, uint64_t tokens, const TrainingData& loaders, const nlohmann::json& settings,
                                 nn::AdamW& adam) {
  TrainerStateToSave s;
  s.step = step;
  s.tokens = tokens;
  s.data = loaders.state();
  s.settings = settings;
  s.adam_m = adam.m();
  s.adam_v = adam.v();
  s.adam_steps = adam.steps();
  return s;
}

nlohmann::json run_settings(const std::vector<std::string>& data_paths, const PretrainOptions& o,
                            const SeqLenSchedule& schedule) {
  const size_t micro = o.micro_batch ? o.micro_batch : o.batch_size;
  return {{"arch", o.arch},   {"data", data_paths}, {"batch_size", o.batch_size},
          {"micro_batch", micro}, {"steps", o.steps},  {"seed", o.seed},
          {"seq_len_schedule", schedule.spec()}};
}

void check_resume_settings(const TrainerState& state, const std::vector<std::string>& data_paths,
                           const PretrainOptions& o, const SeqLenSchedule& schedule) {
  const nlohmann::json now = run_settings(data_paths, o, schedule);
  const auto differs = [&](const char* key) { return state.settings.contains(key) && state.settings[key] != now[key]; };
  if (differs("data")) throw UsageError("--resume: --data differs from the run's; start a new run with --init-from");
  if (differs("batch_size"))
    throw UsageError(fmt::format("--resume: --batch-size {} differs from the run's {}", o.batch_size,
                                 state.settings["batch_size"].dump()));
  if (differs("seq_len_schedule"))
    throw UsageError(fmt::format("--resume: --seq-len-schedule \"{}\" differs from the run's {}", schedule.spec(),
                                 state.settings["seq_len_schedule"].dump()));
  if (differs("arch")) throw UsageError(fmt::format("--resume: --arch {} differs from the run's", o.arch));
}

void warn_about_warmup(const Recipe& recipe, const PretrainOptions& o) {
  if (o.quiet || recipe.warmup < o.steps || o.steps == 0) return;
  const std::string source = o.warmup ? "" : " (the " + recipe.name + " recipe's; give --warmup to change it)";
  std::fprintf(stderr, "pretrain: warning: --warmup %llu%s is not shorter than --steps %llu: the learning rate never "
               "reaches its peak\n",
               (unsigned long long)recipe.warmup, source.c_str(), (unsigned long long)o.steps);
}

void stop_or_skip_nonfinite(const PretrainOptions& o, uint64_t step, double loss, double norm) {
  if (o.skip_nonfinite) return;
  std::error_code ec;
  const std::string latest = o.out_dir + "/latest";
  const std::string last = fs::is_symlink(latest, ec) ? fs::read_symlink(latest, ec).string() : "none";
  throw Error(fmt::format("step {}: the loss or the gradient is not finite (loss {}, gradient norm {}); the last good "
                          "checkpoint is {} (rerun with a lower --lr, or --skip-nonfinite)",
                          step, loss, norm, last));
}

}  // namespace lmpipe::train
