// pretrain: train GPT-2-style (and original GPT) language models on CPU. Flags here; the work is
// lib/train/pretrain.cpp.
#include <string>
#include <vector>

#include "core/cli.h"
#include "core/output_file.h"
#include "nn/gpt_config.h"
#include "nn/runtime.h"
#include "train/pretrain.h"

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);  // may re-execute once with better BLAS settings
  using namespace lmpipe;
  CLI::App app{"Pretrain a transformer language model on windows shards (make-pairs --task causal).", "pretrain"};
  CommonOptions common;
  train::PretrainOptions o;
  std::string schedule = "cosine";
  bool no_shuffle = false;
  add_common_options(app, common, "Run directory: checkpoints step-N/ and latest");
  app.get_option("--output")->type_name("DIR");
  app.add_option("--arch", o.arch, "gpt (GPT-2/GPT-3 layout: pre-LN, final LN) or gpt1 (the original GPT: post-LN)")
      ->check(CLI::IsMember({"gpt", "gpt1", "bert", "roberta"}))
      ->capture_default_str();
  std::string presets;
  for (const std::string& name : nn::gpt_preset_names()) presets += (presets.empty() ? "" : ", ") + name;
  app.add_option("--preset", o.preset, "Model shape: " + presets + " (default gpt2; gpt for --arch gpt1)");
  app.add_option("--n-layer", o.n_layer, "Transformer blocks (overrides the preset)");
  app.add_option("--n-head", o.n_head, "Attention heads");
  app.add_option("--d-model", o.d_model, "Width");
  app.add_option("--d-ff", o.d_ff, "MLP width (default 4 x d-model)");
  app.add_option("--max-len", o.max_len, "Positions (context length)");
  app.add_option("--vocab-size", o.vocab_size, "Vocabulary size (default: the data's)");
  app.add_option("--data", o.data, "Training windows shards (files or glob patterns)")->type_name("GLOB");
  app.add_option("--val", o.val, "Validation windows shards")->type_name("GLOB");
  app.add_flag("--no-shuffle", no_shuffle, "Read windows in file order instead of shuffled blocks and records");
  app.add_option("--steps", o.steps, "Optimizer steps");
  app.add_option("--batch-size", o.batch_size, "Sequences per optimizer step")->capture_default_str();
  app.add_option("--micro-batch", o.micro_batch, "Sequences per forward/backward; the batch is accumulated (default: all)");
  app.add_option("--lr", o.lr, "Peak learning rate")->capture_default_str();
  app.add_option("--min-lr", o.min_lr, "Learning rate at the end of the decay (default lr / 10)");
  app.add_option("--warmup", o.warmup, "Linear warmup steps")->capture_default_str();
  app.add_option("--lr-schedule", schedule, "cosine, linear or constant after warmup")
      ->check(CLI::IsMember({"cosine", "linear", "constant"}))
      ->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "Decoupled weight decay (matrices only)")->capture_default_str();
  app.add_option("--beta1", o.beta1, "AdamW beta1")->capture_default_str();
  app.add_option("--beta2", o.beta2, "AdamW beta2")->capture_default_str();
  app.add_option("--eps", o.eps, "AdamW epsilon")->capture_default_str();
  app.add_option("--grad-clip", o.grad_clip, "Clip the global gradient norm to this (0: off)")->capture_default_str();
  app.add_option("--dropout", o.dropout, "Dropout on embeddings, attention and residuals")->capture_default_str();
  app.add_option("--eval-every", o.eval_every, "Validate every N steps (0: only at the end)")->capture_default_str();
  app.add_option("--save-every", o.save_every, "Checkpoint every N steps (0: only at the end)")->capture_default_str();
  app.add_option("--log", o.log, "Append JSON lines (step, loss, lr, grad norm, tokens/s, validation) to FILE")
      ->type_name("FILE");
  app.add_flag("--resume", o.resume, "Continue from the run directory's latest checkpoint, exactly");
  app.add_option("--init-from", o.init_from, "Start from a checkpoint directory (ours or a transformers GPT-2)")
      ->type_name("DIR");
  app.add_flag("--eval-only", o.eval_only, "Print the validation loss of --init-from as one JSON object and exit");
  app.add_flag("--dry-run", o.dry_run, "Print the parameter count and the memory a step needs, allocate nothing");
  app.add_flag("--skip-nonfinite", o.skip_nonfinite, "Skip steps whose loss or gradient is not finite instead of stopping");
  app.add_option("-v,--vocab", o.vocab, "Tokenizer files to copy into checkpoints (default: a shipped vocabulary "
                                        "that matches the data)")
      ->type_name("VOCAB");

  return run_main(app, argc, argv, [&] {
    o.shuffle = !no_shuffle;
    o.schedule = schedule == "cosine" ? nn::Schedule::kCosine : schedule == "linear" ? nn::Schedule::kLinear : nn::Schedule::kConstant;
    o.out_dir = common.output;
    o.seed = common.seed;
    o.threads = common.thread_count();
    o.show_progress = common.show_progress();
    o.quiet = common.quiet;
    OutputFile out("-", OutputContent::kText);
    train::run_pretrain(o, out);
    out.commit();
  });
}
