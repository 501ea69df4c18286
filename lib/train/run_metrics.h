#pragma once
// What a training run records in its directory, beside the checkpoints: metrics.jsonl (one JSON object per
// step and per evaluation, as --log also receives them) and loss.svg (the curves, redrawn at every
// evaluation and at the end: see loss_plot.h).
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "train/loss_plot.h"

namespace lmpipe::train {

class RunMetrics {
 public:
  // A new run starts run_dir/metrics.jsonl afresh. A resumed one (resume_step > 0) keeps the records up to
  // its checkpoint's step, drops later ones (written before a crash; they are about to be redone), and
  // appends. extra_log ("" for none) gets a copy of every record, appended. An empty run_dir writes nothing
  // (the data-parallel ranks other than 0).
  RunMetrics(const std::string& run_dir, uint64_t resume_step, const std::string& extra_log, std::string title);
  ~RunMetrics();
  RunMetrics(const RunMetrics&) = delete;
  RunMetrics& operator=(const RunMetrics&) = delete;

  void record(const nlohmann::json& r);
  // Rewrites run_dir/loss.svg (atomically) from every record so far.
  void plot() const;

 private:
  void remember(const nlohmann::json& r);

  std::string run_dir_;
  FILE* metrics_ = nullptr;
  FILE* extra_ = nullptr;
  LossCurves curves_;
};

}  // namespace lmpipe::train
