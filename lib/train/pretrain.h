#pragma once
// pretrain's work for decoder models (GPT-2 and GPT): data, model, AdamW, schedule, accumulation,
// clipping, evaluation, logs and checkpoints, and exact resume.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/output_file.h"
#include "nn/optimizer.h"

namespace lmpipe::train {

struct PretrainOptions {
  std::string arch = "gpt";     // gpt (GPT-2 layout) or gpt1
  std::string preset;           // default: gpt2 for gpt, gpt for gpt1
  // Shape overrides (0: the preset's; vocab_size 0: the data's).
  size_t n_layer = 0, n_head = 0, d_model = 0, d_ff = 0, max_len = 0, vocab_size = 0;
  std::vector<std::string> data, val;  // files or glob patterns
  bool shuffle = true;
  uint64_t steps = 0;
  size_t batch_size = 8, micro_batch = 0;  // micro 0: the whole batch at once
  double lr = 6e-4, min_lr = -1;           // min_lr < 0: lr / 10
  uint64_t warmup = 0;
  nn::Schedule schedule = nn::Schedule::kCosine;
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, grad_clip = 1.0;
  float dropout = 0.0f;
  uint64_t eval_every = 0, save_every = 0;
  std::string log;                 // JSON lines
  std::string out_dir;             // checkpoints
  bool resume = false, eval_only = false, dry_run = false, skip_nonfinite = false;
  std::string init_from;
  std::string vocab;               // tokenizer files to put in checkpoints (default: a shipped one that matches)
  uint64_t seed = 0;
  int threads = 0;
  bool show_progress = false, quiet = false;
};

// Runs what the options say; prints the dry-run or eval-only JSON on out, a line per evaluation on
// stderr unless quiet.
void run_pretrain(const PretrainOptions& options, ByteSink& out);

}  // namespace lmpipe::train
