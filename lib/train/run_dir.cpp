#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "core/output_file.h"
#include "core/paths.h"
#include "io/safetensors.h"
#include "tok/vocab.h"

namespace lmpipe::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStateFile = "trainer_state.safetensors";
constexpr const char* kLockFile = ".lock";
constexpr const char* kLatestTemp = ".latest.tmp";

bool is_step_dir(const std::string& name) {
  return name.starts_with("step-") && name.size() > 5 && name.find_first_not_of("0123456789", 5) == std::string::npos;
}

}  // namespace

RunLock::RunLock(const std::string& run_dir, std::string_view program) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (!fs::is_directory(run_dir)) throw Error(fmt::format("cannot create the run directory {}", run_dir));
  const std::string path = run_dir + "/" + kLockFile;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_errno(fmt::format("cannot open {}", path));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    char holder[64] = {};
    const ssize_t got = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (saved != EWOULDBLOCK) {
      errno = saved;
      fail_errno(fmt::format("cannot lock {}", path));
    }
    const std::string who = got > 0 ? std::string(holder, size_t(got)) : "another process";
    throw Error(fmt::format("{} is in use: {} trains into it (wait for it to finish, or give another -o)", run_dir,
                            who.substr(0, who.find('\n'))));
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string holder = fmt::format("{} pid {} on {}\n", program, ::getpid(), host);
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, holder.data(), holder.size(), 0) != ssize_t(holder.size()))
    fail_errno(fmt::format("cannot write {}", path));
  // Holding the lock, nothing else writes here: temporaries are a killed run's.
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if ((name.starts_with(".step-") && name.find(".tmp-") != std::string::npos) || name == kLatestTemp)
      fs::remove_all(entry.path(), ec);
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays, so that no second file can be locked
}

std::string existing_run(const std::string& run_dir) {
  std::error_code ec;
  if (fs::is_symlink(run_dir + "/latest", ec) || fs::exists(run_dir + "/latest", ec)) return "latest";
  // A run that failed before its first step has an empty metrics.jsonl: nothing to lose.
  if (fs::file_size(run_dir + "/metrics.jsonl", ec) > 0 && !ec) return "metrics.jsonl";
  for (const auto& entry : fs::directory_iterator(run_dir, ec))
    if (is_step_dir(entry.path().filename().string())) return entry.path().filename().string();
  return "";
}

void clear_run(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_step_dir(name) || name == "latest" || name == "metrics.jsonl" || name == "loss.svg")
      fs::remove_all(entry.path(), ec);
  }
}

void write_trainer_state(const std::string& dir, const TrainerStateToSave& state) {
  const size_t n = state.adam_m.size();
  const nlohmann::json meta = {{"step", state.step},
                               {"tokens", state.tokens},
                               {"data", state.data},
                               {"settings", state.settings},
                               {"adam_steps", state.adam_steps}};
  io::write_safetensors(dir + "/" + kStateFile,
                        {{"adam.m", "F32", {n}, state.adam_m.data(), n * sizeof(float)},
                         {"adam.v", "F32", {n}, state.adam_v.data(), n * sizeof(float)}},
                        {{"lmpipe", meta.dump()}});
}

std::string save_checkpoint(const std::string& run_dir, uint64_t step, const nn::ModelConfig& config, const float* params,
                            const checkpoint::TokenizerFiles& tokenizer, const TrainerStateToSave* state,
                            const std::function<void(const std::string& staging)>& extra) {
  const std::string name = "step-" + std::to_string(step), final_dir = run_dir + "/" + name;
  OutputDirectory out(final_dir);  // written beside it as .step-N.tmp-*, which RunLock cleans up after a kill
  checkpoint::write_model_dir(out.staging(), config, params, tokenizer);
  if (state != nullptr) write_trainer_state(out.staging(), *state);
  if (extra) extra(out.staging());
  std::error_code ec;
  fs::remove_all(final_dir, ec);  // an older checkpoint of the same step (a rerun): replaced whole
  out.commit();
  // run/latest -> step-N, replaced atomically.
  const std::string link = run_dir + "/latest", link_temp = run_dir + "/" + kLatestTemp;
  fs::remove(link_temp, ec);
  fs::create_directory_symlink(name, link_temp);
  fs::rename(link_temp, link);
  sync_directory(run_dir);
  return final_dir;
}

std::string find_tokenizer_dir(const std::string& vocab, const io::ShardHeader& data) {
  if (!vocab.empty()) return tok::load_vocab(vocab).source;
  const std::string& fingerprint = data.vocab_fingerprint;
  if (fingerprint.empty()) return "";
  std::vector<std::string> candidates;
  if (data.extra.contains("vocab") && data.extra["vocab"].is_string()) candidates.push_back(data.extra["vocab"]);
  const std::string share = find_share_dir();
  std::error_code ec;
  if (!share.empty() && fs::is_directory(share + "/vocab", ec))
    for (const auto& entry : fs::directory_iterator(share + "/vocab", ec))
      if (entry.is_directory()) candidates.push_back(entry.path().string());
  for (const std::string& dir : candidates) {
    try {
      const tok::Vocab v = tok::load_vocab(dir);
      if (v.fingerprint == fingerprint) return v.source;
    } catch (const Error&) {
    }
  }
  return "";
}

TrainerState load_trainer_state(const std::string& checkpoint_dir, std::optional<size_t> moments) {
  const fs::path path = fs::path(checkpoint_dir) / kStateFile;
  if (!fs::is_regular_file(path)) throw Error(fmt::format("--resume: {} has no trainer state", checkpoint_dir));
  const io::SafetensorsFile file(path.string());
  const nlohmann::json meta = nlohmann::json::parse(file.metadata().value("lmpipe", std::string("{}")), nullptr, false);
  const io::SafeTensor* m = file.find("adam.m");
  const io::SafeTensor* v = file.find("adam.v");
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("step") || !meta["step"].is_number_unsigned() ||
      m == nullptr || v == nullptr || m->elements() != v->elements() || (moments && m->elements() != *moments))
    throw Error(fmt::format("{}: {} does not fit the model", checkpoint_dir, kStateFile));
  TrainerState s;
  s.step = meta["step"].get<uint64_t>();
  s.tokens = meta.value("tokens", uint64_t(0));
  s.data = meta.value("data", nlohmann::json::object());
  s.settings = meta.value("settings", nlohmann::json::object());
  s.adam_steps = meta.value("adam_steps", uint64_t(0));
  s.adam_m.resize(m->elements());
  s.adam_v.resize(v->elements());
  file.read_floats(*m, s.adam_m.data());
  file.read_floats(*v, s.adam_v.data());
  return s;
}

}  // namespace lmpipe::train
