#include "train/run_metrics.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/output_file.h"

namespace lmpipe::train {
namespace fs = std::filesystem;

RunMetrics::RunMetrics(const std::string& run_dir, uint64_t resume_step, const std::string& extra_log, std::string title)
    : run_dir_(run_dir) {
  curves_.title = std::move(title);
  if (run_dir.empty()) return;  // a data-parallel rank other than 0
  fs::create_directories(run_dir);
  const std::string path = run_dir + "/metrics.jsonl";
  std::string kept;
  if (resume_step > 0) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      const nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
      if (r.is_discarded() || !r.is_object()) continue;  // a line cut by a crash
      if (r.value("step", uint64_t(0)) > resume_step) continue;
      kept += line + "\n";
      remember(r);
    }
  }
  write_file_atomically(path, kept);
  metrics_ = std::fopen(path.c_str(), "a");
  if (metrics_ == nullptr) fail_errno(fmt::format("cannot open {}", path));
  if (!extra_log.empty()) {
    extra_ = std::fopen(extra_log.c_str(), "a");
    if (extra_ == nullptr) fail_errno(fmt::format("cannot open the log {}", extra_log));
  }
}

RunMetrics::~RunMetrics() {
  if (metrics_ != nullptr) std::fclose(metrics_);
  if (extra_ != nullptr) std::fclose(extra_);
}

void RunMetrics::record(const nlohmann::json& r) {
  const std::string line = r.dump() + "\n";
  for (FILE* f : {metrics_, extra_}) {
    if (f == nullptr) continue;
    std::fputs(line.c_str(), f);
    std::fflush(f);
  }
  remember(r);
}

void RunMetrics::remember(const nlohmann::json& r) {
  const uint64_t tokens = r.value("tokens", uint64_t(0));
  if (r.contains("loss") && r.contains("lr") && r["loss"].is_number()) {
    curves_.train.push_back({tokens, r["loss"].get<double>()});
    curves_.lr.push_back({tokens, r["lr"].get<double>()});
  }
  if (r.contains("val_loss") && r["val_loss"].is_number()) curves_.val.push_back({tokens, r["val_loss"].get<double>()});
}

void RunMetrics::plot() const {
  if (!run_dir_.empty()) write_file_atomically(run_dir_ + "/loss.svg", render_loss_svg(curves_));
}

}  // namespace lmpipe::train
