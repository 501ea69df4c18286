#pragma once
// pretrain's work: a decoder (GPT-2, GPT) or an encoder (BERT, RoBERTa) trained on shards for an
// objective (next tokens, masked tokens: train/objective.h), with the family's optimizer recipe, a
// learning-rate schedule, accumulation, clipping, a sequence-length schedule, evaluation, logs and
// checkpoints, and exact resume.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/output_file.h"
#include "nn/optimizer.h"
#include "train/recipe.h"

namespace lmpipe::train {

struct PretrainOptions {
  std::string arch = "gpt";     // gpt (GPT-2 layout), gpt1, bert, roberta or llava
  std::string preset;           // default: gpt2, gpt (gpt1), bert-base, roberta-base
  std::string objective;        // default: the arch's (next-token for gpt and gpt1, masked-lm for bert and roberta)
  // Shape overrides (0: the preset's; vocab_size 0: the data's).
  size_t n_layer = 0, n_head = 0, d_model = 0, d_ff = 0, max_len = 0, vocab_size = 0;
  std::vector<std::string> data, val;  // files or glob patterns
  bool shuffle = true;
  std::string seq_len_schedule;        // "" (the data's one length), "128:0.9,512:0.1" or "alt:128,512"
  uint64_t steps = 0;
  size_t batch_size = 8, micro_batch = 0;  // micro 0: the whole batch at once
  // Optimizer: the recipe's values (default: the arch's recipe) unless given.
  std::string recipe;
  std::optional<double> lr, min_lr, weight_decay, beta1, beta2, eps, grad_clip;
  std::optional<uint64_t> warmup;
  std::optional<nn::Schedule> schedule;
  std::optional<float> dropout;
  // Dynamic masking of pairs shards (encoders): the share of tokens to predict, whole words or pieces.
  double mask_prob = 0.15;
  bool whole_word = false;
  // DPO: the strength of the reference (beta) and the reference model (default: --init-from).
  double beta = 0.1;
  std::string ref;
  // RPO (Pang et al. 2024): the chosen reply's per-token negative log-likelihood, times rpo_alpha, joins DPO's loss.
  double rpo_alpha = 0;
  bool precompute_ref = false;  // the reference's log-probabilities of all the training data, once
  // LLaVA (--arch llava): a new vision tower's shape (a preset) or a CLIP checkpoint to start it from, the
  // projector, the layer the features come from, and what does not train: "vision" (LLaVA's second
  // stage), "vision,lm" (its first), "none".
  std::string vision, init_vision_from, projector = "mlp2x", freeze = "vision";
  int vision_feature_layer = -2;
  uint64_t eval_every = 0, save_every = 0;
  // Evaluate on the first eval_iters x batch_size validation records, the same ones every time (nanoGPT's
  // and Megatron's eval_iters): a cheap estimate on a large set. 0: every record.
  uint64_t eval_iters = 0;
  std::string log;                 // JSON lines
  std::string out_dir;             // checkpoints
  bool resume = false, eval_only = false, dry_run = false, skip_nonfinite = false;
  bool overwrite = false;          // train into a directory that holds a run, replacing it
  std::string init_from;
  std::string vocab;               // tokenizer files to put in checkpoints (default: a shipped one that matches)
  uint64_t seed = 0;
  int threads = 0;
  std::string precision = "fp32";  // of the matrix products: fp32 or bf16 (nn/onednn_gemm.h)
  // How GPT's threads share a step: "batch" (default) each thread a share of the micro-batch's sequences,
  // "ops" every thread on every product. Encoders: "" or "ops".
  std::string thread_parallel;
  bool show_progress = false, quiet = false;
};

// Runs what the options say; prints the dry-run or eval-only JSON on out, a line per evaluation on
// stderr unless quiet.
void run_pretrain(const PretrainOptions& options, ByteSink& out);

// The recipe the options name (or the arch's), with every optimizer flag given applied over it.
Recipe resolve_recipe(const PretrainOptions& options);

}  // namespace lmpipe::train
