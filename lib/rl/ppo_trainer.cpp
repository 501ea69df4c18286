#include "rl/ppo_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "nn/layers.h"
#include "nn/optimizer.h"
#include "nn/runtime.h"
#include "rl/ppo_gradients.h"
#include "rl/ppo_objective.h"
#include "rl/rollout.h"
#include "rl/rollout_batch.h"
#include "tok/chat_template.h"
#include "tok/tokenizer.h"
#include "train/record_loader.h"
#include "train/run_dir.h"
#include "train/run_metrics.h"

namespace lmpipe::rl {
namespace fs = std::filesystem;
namespace {

// The first key of the minibatches' random stream, Rng(seed, {kShuffleStream, iteration, epoch}); the
// rollouts' is kRolloutStream.
constexpr uint64_t kShuffleStream = 2;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// A GPT with its thread replicas and, when it trains, its optimizer. Dropout off (see ppo_trainer.h).
struct Model {
  std::unique_ptr<nn::Gpt<float>> gpt;
  std::unique_ptr<nn::GptReplicas<float>> replicas;
  std::unique_ptr<nn::AdamW> adam;
  std::string dir;       // where it was loaded from, for messages
  float dropout = 0;     // the checkpoint's, which saved checkpoints keep (the model runs without)
  nn::GptConfig saved_config() const {
    nn::GptConfig c = gpt->config();
    c.dropout = dropout;
    return c;
  }
};

nn::GptConfig gpt_config(const checkpoint::LoadedModel& m, nn::GptHead head, std::string_view flag) {
  const auto* config = std::get_if<nn::GptConfig>(&m.config);
  if (config == nullptr || config->head != head)
    throw UsageError(fmt::format("{} {}: not a GPT {}", flag, m.dir,
                                 head == nn::GptHead::kLm ? "language model" : "reward model (a score head)"));
  return *config;
}

Model make_model(checkpoint::LoadedModel loaded, nn::GptHead head, std::string_view flag, bool trains,
                 double weight_decay, size_t threads) {
  nn::GptConfig config = gpt_config(loaded, head, flag);
  Model m;
  m.dir = loaded.dir;
  m.dropout = config.dropout;
  config.dropout = 0;
  m.gpt = std::make_unique<nn::Gpt<float>>(config, trains ? nn::ModelBuffers::kTraining : nn::ModelBuffers::kLayout);
  m.gpt->params() = std::move(loaded.params);
  m.replicas = std::make_unique<nn::GptReplicas<float>>(*m.gpt, threads);
  if (trains) m.adam = std::make_unique<nn::AdamW>(m.gpt->layout(), nn::AdamWOptions{.weight_decay = weight_decay});
  return m;
}

// Each response token's log-probability under the model (no gradients).
void response_logp(Model& m, const RolloutRows& rows, float* logp) {
  m.replicas->run_shares(rows.B, 1, [&](nn::Gpt<float>& g, size_t first, size_t n) {
    g.forward(rows.inputs.data() + first * rows.Tn, rows.targets.data() + first * rows.Tn, n, rows.Tn);
    gather_logp(rows, first, n, g.token_losses(), logp);
  });
}

// The value model's value at each response token's row (no gradients).
void response_values(Model& m, const RolloutRows& rows, float* values) {
  m.replicas->run_shares(rows.B, 1, [&](nn::Gpt<float>& g, size_t first, size_t n) {
    const std::vector<uint32_t> local = share_rows(rows, first, n);
    g.score_rows(values + rows.offsets[first], rows.inputs.data() + first * rows.Tn, local.data(), local.size(), n,
                 rows.Tn, false);
  });
}

// The reward model's score of each whole sequence.
void sequence_scores(Model& m, const RolloutRows& rows, float* scores) {
  m.replicas->run_shares(rows.B, 1, [&](nn::Gpt<float>& g, size_t first, size_t n) {
    g.score(scores + first, rows.full_inputs.data() + first * rows.full_Tn, rows.last.data() + first, n, rows.full_Tn,
            false);
  });
}

// What PPO keeps of a batch of rollouts: per response token (rollout by rollout, offsets[s] the first of
// rollout s) the log-probabilities at rollout time, the reference's, the values, advantages and returns.
struct Experience {
  std::vector<Rollout> rollouts;
  std::vector<size_t> offsets;
  std::vector<float> logp, ref_logp, values;
  std::vector<double> scores, advantages, returns;
};

// The figures of an iteration, for its metrics record.
struct IterationFigures {
  double rollout_s = 0, score_s = 0, reference_s = 0, old_s = 0, optimise_s = 0;
  PolicyLoss policy;
  ValueLoss value;
  double policy_tokens = 0, ptx_loss = 0, ptx_batches = 0, policy_norm = 0, value_norm = 0, steps = 0;
  size_t prompts_cut = 0;
  uint64_t trained_tokens = 0;
};

class PpoRun {
 public:
  explicit PpoRun(const RlhfOptions& o);
  void run();

 private:
  void load_models(const std::optional<checkpoint::LoadedModel>& resumed_policy);
  Experience collect(uint64_t iteration, IterationFigures& f);
  void optimise(const Experience& e, uint64_t iteration, IterationFigures& f);
  void minibatch_step(const Experience& e, std::span<const size_t> order, IterationFigures& f);
  void save(uint64_t iterations_done, uint64_t tokens);
  nlohmann::json settings() const;
  bool has_value_model() const { return o_.rloo_k == 0; }

  const RlhfOptions& o_;
  size_t threads_ = 1;
  Model policy_, reference_, reward_, value_;
  uint32_t end_token_ = 0;
  std::unique_ptr<train::RecordLoader> prompts_, ptx_;
  checkpoint::TokenizerFiles tokenizer_;
  KlController kl_;
  uint64_t start_ = 0, tokens_ = 0;
};

PpoRun::PpoRun(const RlhfOptions& o) : o_(o), kl_(o.kl_coef, o.target_kl, o.kl_horizon) {}

// Every flag but --iterations, --save-every and the output's: a resumed run must take the same (--threads
// too: the threads' shares of a pass sum in their own order).
nlohmann::json PpoRun::settings() const {
  nlohmann::json s = {
      {"policy", o_.policy},         {"reward", o_.reward},         {"value", o_.value},
      {"ref", o_.ref},               {"prompts", o_.prompts},       {"ptx_data", o_.ptx_data},
      {"ptx_coef", o_.ptx_coef},     {"ptx_batch", o_.ptx_batch},   {"batch_size", o_.batch_size},
      {"minibatch", o_.minibatch},   {"ppo_epochs", o_.ppo_epochs}, {"max_new_tokens", o_.max_new_tokens},
      {"lr", o_.lr},                 {"value_lr", o_.value_lr},     {"weight_decay", o_.weight_decay},
      {"grad_clip", o_.grad_clip},   {"kl_coef", o_.kl_coef},       {"target_kl", o_.target_kl},
      {"kl_horizon", o_.kl_horizon}, {"gamma", o_.gamma},           {"lam", o_.lam},
      {"clip", o_.clip},             {"value_clip", o_.value_clip}, {"vf_coef", o_.vf_coef},
      {"seed", o_.seed},             {"threads", o_.threads},       {"temperature", o_.sampling.temperature},
      {"top_k", o_.sampling.top_k},  {"top_p", o_.sampling.top_p}};
  if (o_.rloo_k > 0) s["rloo_k"] = o_.rloo_k;  // only in RLOO runs: PPO checkpoints from before it resume
  return s;
}

void PpoRun::load_models(const std::optional<checkpoint::LoadedModel>& resumed) {
  threads_ = size_t(nn::compute_threads());
  checkpoint::LoadedModel start = checkpoint::load_model_dir(o_.policy);
  const nn::GptConfig sft = gpt_config(start, nn::GptHead::kLm, "--policy");
  const std::string policy_dir = start.dir;  // the SFT model directory itself (a run directory's latest)
  // The reference: the policy's start unless --ref.
  checkpoint::LoadedModel ref = o_.ref.empty() ? start : checkpoint::load_model_dir(o_.ref);
  reference_ = make_model(std::move(ref), nn::GptHead::kLm, "--ref", false, 0, threads_);
  checkpoint::LoadedModel policy = resumed ? *resumed : std::move(start);
  policy_ = make_model(std::move(policy), nn::GptHead::kLm, "--policy", true, o_.weight_decay, threads_);
  reward_ = make_model(checkpoint::load_model_dir(o_.reward), nn::GptHead::kScore, "--reward", false, 0, threads_);
  if (has_value_model()) {
    if (resumed && !fs::exists(resumed->dir + "/value"))
      throw UsageError(fmt::format("--resume: {} has no value model: it is an RLOO run's (--rloo)", resumed->dir));
    const std::string value_dir = resumed ? resumed->dir + "/value" : o_.value.empty() ? o_.reward : o_.value;
    value_ = make_model(checkpoint::load_model_dir(value_dir), nn::GptHead::kScore, "--value", true, o_.weight_decay,
                        threads_);
  }
  // PPO's log-probabilities, the policy's and the reference's, are of the distribution rollouts sample.
  policy_.replicas->set_temperature(o_.sampling.temperature);
  reference_.replicas->set_temperature(o_.sampling.temperature);
  for (const Model* m : {&reference_, &reward_, &value_}) {
    if (!m->gpt) continue;  // no value model (RLOO)
    const nn::GptConfig& c = m->gpt->config();
    if (c.vocab_size != sft.vocab_size || c.max_len < sft.max_len)
      throw UsageError(fmt::format("{}: {} ids and {} positions, but the policy {} has {} ids and {} positions", m->dir,
                                   c.vocab_size, c.max_len, o_.policy, sft.vocab_size, sft.max_len));
  }
  const auto tokenizer = tok::Tokenizer::load(policy_dir);
  if (tokenizer->vocab().size() != sft.vocab_size)
    throw UsageError(fmt::format("--policy {}: its tokenizer has {} tokens for a model of {} outputs", o_.policy,
                                 tokenizer->vocab().size(), sft.vocab_size));
  const tok::ChatMlTemplate chat(*tokenizer);
  end_token_ = chat.end_id();
  tokenizer_ = {policy_dir, chat.hf_tokenizer_files(sft.max_len)};
}

Experience PpoRun::collect(uint64_t iteration, IterationFigures& f) {
  Experience e;
  std::vector<std::vector<uint32_t>> prompts;
  const size_t answers = std::max<size_t>(o_.rloo_k, 1);  // to each prompt, one after another
  prompts_->next(o_.batch_size / answers, [&](const io::RecordView& r, const std::string&) {
    for (size_t i = 0; i < answers; ++i) prompts.emplace_back(r.ids.begin(), r.ids.end());
  });
  auto start = Clock::now();
  e.rollouts =
      sample_rollouts(*policy_.gpt, prompts, {o_.max_new_tokens, end_token_, o_.seed, o_.sampling}, iteration);
  for (const Rollout& r : e.rollouts) f.prompts_cut += r.dropped_prompt_tokens > 0;
  f.rollout_s = seconds_since(start);

  // The passes over the rollouts, a minibatch's worth of sequences at a time (bounded activations).
  const size_t S = e.rollouts.size();
  e.offsets.assign(1, 0);
  for (const Rollout& r : e.rollouts) e.offsets.push_back(e.offsets.back() + r.response.size());
  const size_t N = e.offsets.back();
  e.logp.resize(N), e.ref_logp.resize(N);
  if (has_value_model()) e.values.resize(N);
  std::vector<float> scores(S);
  for (size_t first = 0; first < S; first += o_.minibatch) {
    std::vector<size_t> order(std::min(o_.minibatch, S - first));
    std::iota(order.begin(), order.end(), first);
    const RolloutRows rows = make_rollout_rows(e.rollouts, order, end_token_);
    const size_t at = e.offsets[first];
    start = Clock::now();
    sequence_scores(reward_, rows, scores.data() + first);
    f.score_s += seconds_since(start);
    start = Clock::now();
    response_logp(reference_, rows, e.ref_logp.data() + at);
    f.reference_s += seconds_since(start);
    start = Clock::now();
    response_logp(policy_, rows, e.logp.data() + at);
    if (has_value_model()) response_values(value_, rows, e.values.data() + at);
    f.old_s += seconds_since(start);
  }
  e.scores.assign(scores.begin(), scores.end());
  if (!has_value_model()) {
    e.advantages = rloo_advantages(e.offsets, e.logp, e.ref_logp, e.scores, kl_.coef(), o_.rloo_k);
    return e;
  }
  const std::vector<double> rewards = token_rewards(e.offsets, e.logp, e.ref_logp, e.scores, kl_.coef());
  e.advantages.resize(N), e.returns.resize(N);
  gae(e.offsets, rewards, e.values, o_.gamma, o_.lam, e.advantages, e.returns);
  whiten(e.advantages);
  return e;
}

// One optimisation step on the rollouts at `order`: the policy's clipped surrogate (and PPO-ptx), the
// value model's clipped loss, an update of each.
void PpoRun::minibatch_step(const Experience& e, std::span<const size_t> order, IterationFigures& f) {
  const RolloutRows rows = make_rollout_rows(e.rollouts, order, end_token_);
  const size_t N = rows.tokens();
  // The experience of the minibatch's tokens, in its rows' order.
  std::vector<float> old_logp, old_values;
  std::vector<double> advantages, returns;
  for (size_t i : order) {
    const auto from = std::ptrdiff_t(e.offsets[i]), to = std::ptrdiff_t(e.offsets[i + 1]);
    old_logp.insert(old_logp.end(), e.logp.begin() + from, e.logp.begin() + to);
    advantages.insert(advantages.end(), e.advantages.begin() + from, e.advantages.begin() + to);
    if (!has_value_model()) continue;
    old_values.insert(old_values.end(), e.values.begin() + from, e.values.begin() + to);
    returns.insert(returns.end(), e.returns.begin() + from, e.returns.begin() + to);
  }
  const double scale = 1.0 / double(N);

  f.policy.add(policy_gradient(*policy_.replicas, rows, old_logp, advantages, o_.clip, scale));
  f.policy_tokens += double(N);
  if (ptx_) {
    // PPO-ptx: gamma times the language-model loss of a batch of pretraining windows.
    const size_t count = o_.ptx_batch ? o_.ptx_batch : o_.minibatch;
    std::vector<uint32_t> inputs, targets;
    size_t T = 0;
    ptx_->next(count, [&](const io::RecordView& r, const std::string& path) {
      if (T == 0) T = r.ids.size() - 1;
      if (r.ids.size() < 2 || r.ids.size() != T + 1 || T > policy_.gpt->config().max_len)
        throw Error(fmt::format("{}: a window of {} ids among windows of {}, or longer than the policy's {} positions",
                                path, r.ids.size(), T + 1, policy_.gpt->config().max_len));
      inputs.insert(inputs.end(), r.ids.begin(), r.ids.end() - 1);
      targets.insert(targets.end(), r.ids.begin() + 1, r.ids.end());
    });
    f.ptx_loss += policy_.replicas->forward_backward(inputs.data(), targets.data(), count, T, float(o_.ptx_coef));
    f.ptx_batches += 1;
  }
  const double policy_norm = std::sqrt(policy_.replicas->reduce_grads());
  if (!std::isfinite(policy_norm))
    throw Error("a non-finite policy gradient (a lower --lr, or --grad-clip): the last checkpoint is the run's latest");
  policy_.adam->step_and_zero_grads(policy_.gpt->params().data(), policy_.gpt->grads().data(), o_.lr,
                                    nn::clip_scale(policy_norm, o_.grad_clip));

  f.policy_norm += policy_norm;
  f.steps += 1;
  f.trained_tokens += rows.B * rows.Tn;
  if (!has_value_model()) return;
  f.value.add(value_gradient(*value_.replicas, rows, old_values, returns, o_.value_clip, o_.vf_coef * scale));
  const double value_norm = std::sqrt(value_.replicas->reduce_grads());
  if (!std::isfinite(value_norm))
    throw Error("a non-finite value-model gradient (a lower --value-lr, or --grad-clip): the last checkpoint is the "
                "run's latest");
  value_.adam->step_and_zero_grads(value_.gpt->params().data(), value_.gpt->grads().data(),
                                   o_.value_lr > 0 ? o_.value_lr : o_.lr, nn::clip_scale(value_norm, o_.grad_clip));
  f.value_norm += value_norm;
}

void PpoRun::optimise(const Experience& e, uint64_t iteration, IterationFigures& f) {
  const auto start = Clock::now();
  const size_t S = e.rollouts.size();
  std::vector<size_t> order(S);
  for (size_t epoch = 0; epoch < o_.ppo_epochs; ++epoch) {
    std::iota(order.begin(), order.end(), size_t(0));
    Rng rng(o_.seed, {kShuffleStream, iteration, epoch});
    for (size_t i = S; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    for (size_t first = 0; first < S; first += o_.minibatch)
      minibatch_step(e, std::span(order).subspan(first, std::min(o_.minibatch, S - first)), f);
  }
  f.optimise_s = seconds_since(start);
}

void PpoRun::save(uint64_t iterations_done, uint64_t tokens) {
  const nlohmann::json data = {{"prompts", prompts_->state()},
                               {"ptx", ptx_ ? ptx_->state() : nlohmann::json()},
                               {"kl_coef", kl_.coef()}};
  const train::TrainerStateToSave policy_state{iterations_done, tokens, data, settings(), policy_.adam->m(),
                                               policy_.adam->v(), policy_.adam->steps()};
  std::function<void(const std::string&)> save_value;  // none for RLOO
  if (has_value_model())
    save_value = [&](const std::string& staging) {
      const std::string dir = staging + "/value";
      fs::create_directory(dir);
      checkpoint::write_model_dir(dir, value_.saved_config(), value_.gpt->params().data(), tokenizer_);
      train::write_trainer_state(
          dir, {iterations_done, tokens, {}, {}, value_.adam->m(), value_.adam->v(), value_.adam->steps()});
    };
  train::save_checkpoint(o_.out_dir, iterations_done, policy_.saved_config(), policy_.gpt->params().data(), tokenizer_,
                         &policy_state, save_value);
}

void PpoRun::run() {
  o_.validate();
  nn::set_compute_threads(o_.threads);
  if (!o_.resume && !o_.overwrite) {
    const std::string held = train::existing_run(o_.out_dir);
    if (!held.empty())
      throw UsageError(fmt::format("-o {} already holds a run ({}): --resume it or --overwrite it", o_.out_dir, held));
  }
  train::RunLock lock(o_.out_dir, "rlhf");
  if (o_.overwrite) train::clear_run(o_.out_dir);

  std::optional<checkpoint::LoadedModel> resumed;
  std::optional<train::TrainerState> state;
  if (o_.resume) {
    const std::string latest = o_.out_dir + "/latest";
    if (!fs::exists(latest)) throw UsageError(fmt::format("--resume: {} has no checkpoint", o_.out_dir));
    resumed = checkpoint::load_model_dir(latest);
  }
  load_models(resumed);
  if (resumed) {
    state = train::load_trainer_state(resumed->dir, policy_.gpt->params().size());
    if (state->settings != settings())
      throw UsageError(fmt::format("--resume: {} was started with other settings ({}); these are {}", resumed->dir,
                                   state->settings.dump(), settings().dump()));
    policy_.adam->m() = std::move(state->adam_m), policy_.adam->v() = std::move(state->adam_v);
    policy_.adam->set_steps(state->adam_steps);
    if (has_value_model()) {
      train::TrainerState value = train::load_trainer_state(resumed->dir + "/value", value_.gpt->params().size());
      value_.adam->m() = std::move(value.adam_m), value_.adam->v() = std::move(value.adam_v);
      value_.adam->set_steps(value.adam_steps);
    }
    start_ = state->step, tokens_ = state->tokens;
  }

  prompts_ = std::make_unique<train::RecordLoader>(std::vector<std::string>{o_.prompts},
                                                   std::vector<io::RecordKind>{io::RecordKind::kChat}, true, o_.seed);
  const io::ShardHeader& header = prompts_->header();
  if (!header.extra.contains("prompts") || header.extra["prompts"] != true)
    throw UsageError(fmt::format("--prompts {}: a chat shard of whole conversations; make prompts with make-prefs "
                                 "--prompts-only",
                                 o_.prompts));
  if (header.vocab_size > policy_.gpt->config().vocab_size)
    throw UsageError(fmt::format("--prompts {}: ids of a {}-token vocabulary for a policy of {}", o_.prompts,
                                 header.vocab_size, policy_.gpt->config().vocab_size));
  if (o_.ptx_coef > 0) {
    ptx_ = std::make_unique<train::RecordLoader>(std::vector<std::string>{o_.ptx_data},
                                                 std::vector<io::RecordKind>{io::RecordKind::kWindows}, true,
                                                 o_.seed + 1);
    const io::ShardHeader& windows = ptx_->header();
    // The base model's windows serve too: the chat vocabulary extends theirs (tok-train --extend).
    if (windows.vocab_size > policy_.gpt->config().vocab_size)
      throw UsageError(fmt::format("--ptx-data {}: ids of a {}-token vocabulary for a policy of {}", o_.ptx_data,
                                   windows.vocab_size, policy_.gpt->config().vocab_size));
    if (windows.extra.contains("max_len") && windows.extra["max_len"].is_number_unsigned() &&
        windows.extra["max_len"].get<size_t>() > policy_.gpt->config().max_len)
      throw UsageError(fmt::format("--ptx-data {}: windows of {} positions for a policy of {}", o_.ptx_data,
                                   windows.extra["max_len"].get<size_t>(), policy_.gpt->config().max_len));
  }
  if (state) {
    prompts_->restore(state->data["prompts"]);
    if (ptx_) ptx_->restore(state->data["ptx"]);
    kl_.set_coef(state->data["kl_coef"].get<double>());
  }

  train::RunMetrics metrics(o_.out_dir, start_, o_.log,
                            nn::describe(policy_.gpt->config()) + (has_value_model() ? " PPO: " : " RLOO: ") + o_.out_dir);
  for (uint64_t iteration = start_; iteration < o_.iterations; ++iteration) {
    IterationFigures f;
    const double kl_coef = kl_.coef();
    Experience e = collect(iteration, f);
    const size_t S = e.rollouts.size(), N = e.offsets.back();
    double score = 0, kl = 0, entropy_sum = 0, ended = 0;
    for (size_t s = 0; s < S; ++s) {
      score += e.scores[s];
      for (size_t t = e.offsets[s]; t < e.offsets[s + 1]; ++t) kl += double(e.logp[t]) - double(e.ref_logp[t]);
      entropy_sum += e.rollouts[s].entropy;
      ended += e.rollouts[s].ended;
    }
    optimise(e, iteration, f);
    kl_.update(kl / double(S), S);
    tokens_ += f.trained_tokens;

    const double tokens = f.policy_tokens > 0 ? f.policy_tokens : 1.0;
    const double pg_loss = f.policy.loss / tokens, vf_loss = f.value.loss / tokens;
    nlohmann::json r = {
        {"step", iteration + 1},
        {"tokens", tokens_},
        {"loss", has_value_model() ? pg_loss + o_.vf_coef * vf_loss : pg_loss},
        {"lr", o_.lr},
        {"score", score / double(S)},
        {"kl", kl / double(S)},
        {"non_score_reward", 0.0 - kl_coef * kl / double(S)},  // 0, not -0, at KL 0
        {"kl_coef", kl_coef},
        {"entropy", entropy_sum / double(N)},
        {"response_length", double(N) / double(S)},
        {"ended", ended / double(S)},
        {"prompts_cut", f.prompts_cut},
        {"pg_loss", pg_loss},
        {"clip_fraction", f.policy.clipped / tokens},
        {"approx_kl", f.policy.approx_kl / tokens},
        {"policy_grad_norm", f.steps ? f.policy_norm / f.steps : 0.0},
        {"rollout_tokens_per_s", f.rollout_s > 0 ? double(N) / f.rollout_s : 0.0},
        {"train_tokens_per_s", f.optimise_s > 0 ? double(f.trained_tokens) / f.optimise_s : 0.0},
        {"seconds", {{"rollout", f.rollout_s}, {"score", f.score_s}, {"reference", f.reference_s},
                     {"old_logp_values", f.old_s}, {"optimise", f.optimise_s}}}};
    if (has_value_model()) {
      r["vf_loss"] = vf_loss;
      r["value_clip_fraction"] = f.value.clipped / tokens;
      r["value_grad_norm"] = f.steps ? f.value_norm / f.steps : 0.0;
    }
    if (ptx_) r["ptx_loss"] = f.ptx_batches ? f.ptx_loss / f.ptx_batches : 0.0;
    metrics.record(r);
    if (!o_.quiet)
      std::fprintf(stderr,
                   "rlhf: iteration %llu/%llu score %.4f kl %.4f entropy %.3f length %.1f pg %.4f%s clip %.3f "
                   "(rollout %.1fs, scoring %.1fs, optimise %.1fs)\n",
                   (unsigned long long)(iteration + 1), (unsigned long long)o_.iterations, score / double(S),
                   kl / double(S), entropy_sum / double(N), double(N) / double(S), pg_loss,
                   has_value_model() ? fmt::format(" vf {:.4f}", vf_loss).c_str() : "", f.policy.clipped / tokens,
                   f.rollout_s, f.score_s + f.reference_s + f.old_s, f.optimise_s);
    const bool last = iteration + 1 == o_.iterations;
    if (last || (o_.save_every > 0 && (iteration + 1) % o_.save_every == 0)) {
      save(iteration + 1, tokens_);
      metrics.plot();
    }
  }
}

}  // namespace

void RlhfOptions::validate() const {
  const auto positive = [](size_t v, const char* flag) {
    if (v == 0) throw UsageError(fmt::format("{} must be at least 1", flag));
  };
  positive(iterations, "--iterations");
  positive(batch_size, "--batch-size");
  positive(minibatch, "--minibatch");
  positive(ppo_epochs, "--ppo-epochs");
  positive(max_new_tokens, "--max-new-tokens");
  if (minibatch > batch_size) throw UsageError("--minibatch must not exceed --batch-size");
  if (rloo_k == 1) throw UsageError("--rloo must be at least 2: the baseline of an answer is the others' mean");
  if (rloo_k > 0 && batch_size % rloo_k != 0)
    throw UsageError(fmt::format(
        "--batch-size {} must be a multiple of --rloo {}: each prompt's answers are in one batch", batch_size, rloo_k));
  if (rloo_k > 0 && !value.empty()) throw UsageError("--value is PPO's value model: --rloo has none");
  sampling.validate();
  if (sampling.greedy || !(sampling.temperature > 0))
    throw UsageError("--temperature must be above 0: PPO needs the probabilities of what it samples");
  // Comparisons written so that NaN fails them.
  const auto at_least = [](double v, double low, const char* flag) {
    if (!(std::isfinite(v) && v >= low)) throw UsageError(fmt::format("{} must be a number of at least {}", flag, low));
  };
  const auto above = [](double v, double low, const char* flag) {
    if (!(std::isfinite(v) && v > low)) throw UsageError(fmt::format("{} must be a number above {}", flag, low));
  };
  above(lr, 0, "--lr");
  at_least(value_lr, 0, "--value-lr");
  at_least(weight_decay, 0, "--weight-decay");
  at_least(grad_clip, 0, "--grad-clip");
  at_least(kl_coef, 0, "--kl-coef");
  at_least(target_kl, 0, "--target-kl");
  above(kl_horizon, 0, "--kl-horizon");
  above(clip, 0, "--clip");
  above(value_clip, 0, "--value-clip");
  at_least(vf_coef, 0, "--vf-coef");
  at_least(ptx_coef, 0, "--ptx-coef");
  for (const auto& [v, flag] : {std::pair{gamma, "--gamma"}, std::pair{lam, "--lam"}})
    if (!(v >= 0 && v <= 1)) throw UsageError(fmt::format("{} must be in [0, 1]", flag));
  if ((ptx_coef > 0) != !ptx_data.empty())
    throw UsageError("PPO-ptx takes both --ptx-coef (> 0) and --ptx-data (a windows shard)");
  if (ptx_batch > 0 && ptx_data.empty()) throw UsageError("--ptx-batch is PPO-ptx's: it needs --ptx-data");
  if (resume && overwrite) throw UsageError("--resume continues the run in -o; --overwrite replaces it: not both");
  if (out_dir.empty()) throw UsageError("-o: the run directory is required");
}

void run_rlhf(const RlhfOptions& options) { PpoRun(options).run(); }

}  // namespace lmpipe::rl
