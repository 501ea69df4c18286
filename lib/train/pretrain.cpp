#include "train/pretrain.h"

#include <glob.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/paths.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/shard_file.h"
#include "nn/gpt.h"
#include "nn/layers.h"
#include "nn/runtime.h"
#include "tok/vocab.h"
#include "train/checkpoint.h"
#include "train/run_metrics.h"
#include "train/window_loader.h"

namespace lmpipe::train {
namespace fs = std::filesystem;
namespace {

// Files and glob patterns, in order; a pattern that matches nothing is an error.
std::vector<std::string> expand(const std::vector<std::string>& patterns) {
  std::vector<std::string> paths;
  for (const std::string& pattern : patterns) {
    glob_t g{};
    const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
    if (rc != 0) throw Error(fmt::format("no file matches {}", pattern));
  }
  return paths;
}

// Ids per window the data holds (make-pairs records max_len; the first record otherwise).
size_t data_window(const std::string& path) {
  shard::ShardFile file(path);
  const auto& extra = file.headers().front().extra;
  if (extra.contains("max_len") && extra["max_len"].is_number_unsigned()) return extra["max_len"].get<size_t>() + 1;
  if (file.blocks().empty()) throw Error(fmt::format("{}: no windows", path));
  shard::Block block;
  file.read_block(0, block);
  return block.record(0).ids.size();
}

nn::GptConfig model_config(const PretrainOptions& o, uint32_t data_vocab, size_t data_T) {
  const std::string preset = !o.preset.empty() ? o.preset : o.arch == "gpt1" ? "gpt" : "gpt2";
  auto config = nn::gpt_preset(preset);
  if (!config) throw UsageError(fmt::format("unknown --preset {}", preset));
  config->arch = o.arch == "gpt1" ? nn::GptArch::kGpt1 : nn::GptArch::kGpt2;
  if (o.n_layer) config->n_layer = o.n_layer;
  if (o.n_head) config->n_head = o.n_head;
  if (o.d_model) {
    config->d_model = o.d_model;
    if (!o.d_ff) config->d_ff = 4 * o.d_model;
  }
  if (o.d_ff) config->d_ff = o.d_ff;
  if (o.max_len) config->max_len = o.max_len;
  config->vocab_size = o.vocab_size ? o.vocab_size : (data_vocab ? data_vocab : config->vocab_size);
  config->dropout = o.dropout;
  if (data_T > config->max_len)
    throw UsageError(fmt::format("the data's windows have {} inputs, the model {} positions: raise --max-len or make "
                                 "shorter windows",
                                 data_T, config->max_len));
  if (data_vocab > config->vocab_size)
    throw UsageError(fmt::format("the data's vocabulary has {} ids, the model {}", data_vocab, config->vocab_size));
  if (config->arch == nn::GptArch::kGpt1 && config->d_ff != 4 * config->d_model)
    throw UsageError(fmt::format("--arch gpt1: the MLP is 4 x --d-model wide (transformers' OpenAIGPT config has no "
                                 "n_inner, so a checkpoint with --d-ff {} could not be loaded)",
                                 config->d_ff));
  config->validate();
  return *config;
}

// The tokenizer files for checkpoints: --vocab, or a shipped vocabulary with the data's fingerprint.
std::string find_vocab(const PretrainOptions& o, const std::string& fingerprint) {
  if (!o.vocab.empty()) return tok::load_vocab(o.vocab).source;
  if (fingerprint.empty()) return "";
  const std::string share = find_share_dir();
  std::error_code ec;
  if (share.empty() || !fs::is_directory(share + "/vocab", ec)) return "";
  for (const auto& entry : fs::directory_iterator(share + "/vocab", ec)) {
    if (!entry.is_directory()) continue;
    try {
      const tok::Vocab v = tok::load_vocab(entry.path().string());
      if (v.fingerprint == fingerprint) return v.source;
    } catch (const Error&) {
    }
  }
  return "";
}

// Splits windows of T+1 ids into inputs and next-token targets.
void split_windows(const std::vector<uint32_t>& windows, size_t count, size_t T, std::vector<uint32_t>& inputs,
                   std::vector<uint32_t>& targets) {
  inputs.resize(count * T);
  targets.resize(count * T);
  for (size_t w = 0; w < count; ++w) {
    const uint32_t* src = windows.data() + w * (T + 1);
    std::copy(src, src + T, inputs.data() + w * T);
    std::copy(src + 1, src + T + 1, targets.data() + w * T);
  }
}

struct Evaluation {
  double loss = 0;
  uint64_t tokens = 0;
};

// Mean cross-entropy over every target of every window of the files, in file order.
Evaluation evaluate(nn::Gpt<float>& model, const std::vector<std::string>& paths, size_t T, size_t batch) {
  WindowLoader loader(paths, T + 1, false, 0);
  Evaluation e;
  std::vector<uint32_t> windows, inputs, targets;
  double sum = 0;
  for (uint64_t left = loader.windows(); left > 0;) {
    const size_t n = size_t(std::min<uint64_t>(batch, left));
    windows.clear();
    loader.next(n, windows);
    split_windows(windows, n, T, inputs, targets);
    sum += model.forward(inputs.data(), targets.data(), n, T) * double(n * T);
    e.tokens += n * T;
    left -= n;
  }
  e.loss = e.tokens ? sum / double(e.tokens) : 0;
  return e;
}

}  // namespace

void run_pretrain(const PretrainOptions& o, ByteSink& out) {
  if (o.arch != "gpt" && o.arch != "gpt1")
    throw UsageError(fmt::format("--arch {}: this build trains gpt and gpt1 (bert and roberta come with issue 6)", o.arch));
  const std::vector<std::string> data = expand(o.data), val = expand(o.val);
  const bool training = !o.eval_only && !o.dry_run;
  if (training && data.empty()) throw UsageError("give the training data with --data");
  if (training && o.out_dir.empty()) throw UsageError("give the checkpoint directory with -o");
  if (training && o.steps == 0) throw UsageError("give the number of optimizer steps with --steps");
  if (o.eval_only && o.init_from.empty() && !o.resume) throw UsageError("--eval-only needs --init-from or --resume");
  const size_t micro = o.micro_batch ? o.micro_batch : o.batch_size;
  if (micro == 0 || o.batch_size % micro != 0)
    throw UsageError(fmt::format("--batch-size {} must be a multiple of --micro-batch {}", o.batch_size, micro));
  const size_t accumulation = o.batch_size / micro;

  // The data decides the sequence length and, unless told otherwise, the vocabulary.
  const std::vector<std::string>& shape_source = !data.empty() ? data : val;
  size_t T = 0;
  uint32_t data_vocab = 0;
  std::string fingerprint;
  if (!shape_source.empty()) {
    T = data_window(shape_source.front()) - 1;
    const shard::ShardFile first(shape_source.front());
    data_vocab = first.headers().front().vocab_size;
    fingerprint = first.headers().front().vocab_fingerprint;
  }

  std::optional<LoadedModel> loaded;
  if (!o.init_from.empty()) loaded = load_checkpoint(o.init_from);
  if (o.resume) {
    const std::string latest = o.out_dir + "/latest";
    if (!fs::exists(latest)) throw Error(fmt::format("--resume: {} has no checkpoint (no {})", o.out_dir, latest));
    loaded = load_checkpoint(latest, TrainerStateUse::kLoad);
    if (!loaded->state) throw Error(fmt::format("--resume: {} has no trainer state", latest));
  }
  nn::GptConfig config = loaded ? loaded->config : model_config(o, data_vocab, T);
  if (loaded) {
    config.dropout = o.dropout;
    if (T > config.max_len) throw UsageError(fmt::format("the data's windows are longer than the model's {} positions", config.max_len));
  }
  if (T == 0) T = config.max_len;

  if (o.dry_run) {
    const uint64_t params = config.parameter_count();
    const uint64_t weights = params * 4, training_state = params * 4 * 3;  // grads, AdamW's m and v
    const uint64_t activations = config.activation_floats(micro, T) * 4 + uint64_t(std::min<size_t>(256, micro * T)) * config.vocab_size * 4;
    const nlohmann::ordered_json j = {{"parameters", params},
                                      {"n_layer", config.n_layer},
                                      {"n_head", config.n_head},
                                      {"d_model", config.d_model},
                                      {"d_ff", config.d_ff},
                                      {"max_len", config.max_len},
                                      {"vocab_size", config.vocab_size},
                                      {"micro_batch", micro},
                                      {"seq_len", T},
                                      {"flops_per_token", config.training_flops_per_token(T)},
                                      {"bytes_weights", weights},
                                      {"bytes_grads_and_adamw", training_state},
                                      {"bytes_activations", activations},
                                      {"bytes_total", weights + training_state + activations}};
    const std::string line = j.dump() + "\n";
    out.write(line.data(), line.size());
    return;
  }
  nn::set_compute_threads(o.threads);

  nn::Gpt<float> model(config);
  if (loaded) {
    model.params() = std::move(loaded->params);
  } else {
    model.init(o.seed);
  }
  if (o.eval_only) {
    const Evaluation e = evaluate(model, !val.empty() ? val : data, T, micro);
    const nlohmann::ordered_json j = {{"loss", e.loss}, {"ppl", std::exp(e.loss)}, {"tokens", e.tokens}};
    const std::string line = j.dump() + "\n";
    out.write(line.data(), line.size());
    return;
  }

  nn::AdamWOptions adam_options;
  adam_options.beta1 = o.beta1;
  adam_options.beta2 = o.beta2;
  adam_options.eps = o.eps;
  adam_options.weight_decay = o.weight_decay;
  nn::AdamW adam(model.layout(), adam_options);
  WindowLoader loader(data, T + 1, o.shuffle, o.seed);
  uint64_t start = 0;
  if (o.resume) {
    const TrainerState& s = *loaded->state;
    // The data position counts windows drawn, so it means the same thing only for the same data and batch.
    const auto differs = [&](const char* key, const nlohmann::json& now) {
      return s.settings.contains(key) && s.settings[key] != now;
    };
    if (differs("data", data)) throw UsageError("--resume: --data differs from the run's; start a new run with --init-from");
    if (differs("batch_size", o.batch_size))
      throw UsageError(fmt::format("--resume: --batch-size {} differs from the run's {}", o.batch_size,
                                   s.settings["batch_size"].dump()));
    if (differs("seq_len", T)) throw UsageError("--resume: the data's window length differs from the run's");
    adam.m() = std::move(loaded->state->adam_m);
    adam.v() = std::move(loaded->state->adam_v);
    adam.set_steps(s.adam_steps);
    start = s.step;
    loader.restore(s.data);
  }
  const std::string vocab_dir = find_vocab(o, fingerprint);
  if (vocab_dir.empty() && !o.quiet)
    std::fprintf(stderr, "pretrain: warning: no tokenizer files match the data's vocabulary: checkpoints will have none "
                         "(give the tokenizer directory with -v, or sample needs -v later)\n");
  const double min_lr = o.min_lr >= 0 ? o.min_lr : o.lr / 10;
  const nlohmann::json settings = {{"data", data}, {"batch_size", o.batch_size}, {"micro_batch", micro},
                                   {"steps", o.steps}, {"lr", o.lr}, {"seed", o.seed}, {"seq_len", T}};
  const auto checkpoint = [&](uint64_t step) {
    TrainerStateToSave s;
    s.step = step;
    s.data = loader.state();
    s.settings = settings;
    s.adam_m = adam.m();
    s.adam_v = adam.v();
    s.adam_steps = adam.steps();
    return save_checkpoint(o.out_dir, step, model, vocab_dir, &s);
  };

  RunMetrics log(o.out_dir, start, o.log,
                 fmt::format("{} {}x{}, {} heads, context {}: {}", config.arch == nn::GptArch::kGpt2 ? "GPT-2" : "GPT",
                             config.n_layer, config.d_model, config.n_head, config.max_len, o.out_dir));
  Progress progress(o.show_progress, "pretrain", o.steps, Progress::Unit::kItems);
  progress.update(start);
  std::vector<uint32_t> windows, inputs, targets;
  const auto t_start = std::chrono::steady_clock::now();
  uint64_t tokens_seen = start * o.batch_size * T;
  for (uint64_t step = start; step < o.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = nn::learning_rate(step, o.steps, o.warmup, o.lr, min_lr, o.schedule);
    model.zero_grad();
    double loss = 0;
    for (size_t m = 0; m < accumulation; ++m) {
      windows.clear();
      loader.next(micro, windows);
      split_windows(windows, micro, T, inputs, targets);
      uint64_t key_state = o.seed ^ (step * 0x9E3779B97F4A7C15ULL + m);
      model.set_dropout_key(splitmix64(key_state));
      loss += model.forward_backward(inputs.data(), targets.data(), micro, T, 1.0f / float(accumulation)) /
              double(accumulation);
    }
    const double norm = nn::clip_grad_norm(model.grads().data(), model.grads().size(), o.grad_clip);
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      if (!o.skip_nonfinite) {
        const std::string last = fs::exists(o.out_dir + "/latest") ? fs::read_symlink(o.out_dir + "/latest").string() : "none";
        throw Error(fmt::format("step {}: the loss or the gradient is not finite (loss {}, gradient norm {}); the last good "
                                "checkpoint is {} (rerun with a lower --lr, or --skip-nonfinite)",
                                step, loss, norm, last));
      }
      log.record({{"step", step}, {"skipped", "non-finite"}, {"loss", std::isfinite(loss) ? loss : -1.0}});
      continue;
    }
    adam.step(model.params().data(), model.grads().data(), lr);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens_seen += o.batch_size * T;
    log.record({{"step", step + 1},
               {"loss", loss},
               {"lr", lr},
               {"grad_norm", norm},
               {"tokens", tokens_seen},
               {"tokens_per_s", double(o.batch_size * T) / seconds},
               {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()}});
    progress.update(step + 1);
    const bool last = step + 1 == o.steps;
    if (!val.empty() && ((o.eval_every && (step + 1) % o.eval_every == 0) || last)) {
      const Evaluation e = evaluate(model, val, T, micro);
      log.record({{"step", step + 1}, {"val_loss", e.loss}, {"val_ppl", std::exp(e.loss)}, {"tokens", tokens_seen}});
      log.plot();
      if (!o.quiet)
        std::fprintf(stderr, "%sstep %llu: loss %.4f, val loss %.4f (ppl %.2f)\n", o.show_progress ? "\n" : "",
                     (unsigned long long)(step + 1), loss, e.loss, std::exp(e.loss));
    }
    if ((o.save_every && (step + 1) % o.save_every == 0) || last) checkpoint(step + 1);
  }
  log.plot();
  progress.finish();
}

}  // namespace lmpipe::train
