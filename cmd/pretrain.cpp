// pretrain: train GPT-2/GPT decoders and BERT/RoBERTa encoders on CPU. Flags here; the training loop is
// lib/train/pretrain.cpp, the objectives lib/train/objectives.cpp's.
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/cli.h"
#include "core/output_file.h"
#include "nn/model_config.h"
#include "nn/runtime.h"
#include "train/distributed.h"
#include "train/objective.h"
#include "train/pretrain.h"

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);  // may re-execute once with better BLAS settings
  using namespace lmpipe;
  train::Distributed world(&argc, &argv);  // under mpirun: one rank of a data-parallel job
  CLI::App app{"Pretrain a transformer: GPT on windows shards (make-pairs --task causal), BERT on masked shards "
               "(mask-corpus) or pairs shards, RoBERTa on pairs shards (make-pairs --task full-sentences).",
               "pretrain"};
  CommonOptions common;
  train::PretrainOptions o;
  std::optional<std::string> schedule;
  bool no_shuffle = false;
  add_common_options(app, common, "Run directory: checkpoints step-N/ and latest");
  app.get_option("--output")->type_name("DIR");
  app.add_option("--arch", o.arch,
                 "gpt (GPT-2/GPT-3 layout: pre-LN, final LN), gpt1 (the original GPT: post-LN), bert (MLM + NSP), "
                 "roberta (MLM, dynamic masking) or llava (a CLIP vision tower and a projector before a GPT-2 decoder, "
                 "on images shards)")
      ->check(CLI::IsMember({"gpt", "gpt1", "bert", "roberta", "llava"}))
      ->capture_default_str();
  std::string presets;
  for (const std::string& name : nn::gpt_preset_names()) presets += (presets.empty() ? "" : ", ") + name;
  for (const std::string& name : nn::bert_preset_names()) presets += ", " + name;
  std::string objectives;
  std::vector<std::string> objective_names;
  for (const train::ObjectiveInfo& info : train::objectives()) {
    objectives += fmt::format("{}{} ({})", objectives.empty() ? "" : "; ", info.name, info.summary);
    objective_names.emplace_back(info.name);
  }
  app.add_option("--objective", o.objective, "What to train for: " + objectives + ". Default: the arch's")
      ->check(CLI::IsMember(objective_names));
  app.add_option("--preset", o.preset,
                 "Model shape: " + presets + " (default gpt2; gpt for gpt1, bert-base, roberta-base)");
  app.add_option("--n-layer", o.n_layer, "Transformer blocks (overrides the preset)")
      ->check(at_least(1));
  app.add_option("--n-head", o.n_head, "Attention heads")
      ->check(at_least(1));
  app.add_option("--d-model", o.d_model, "Width")
      ->check(at_least(1));
  app.add_option("--d-ff", o.d_ff, "MLP width (default 4 x d-model)")
      ->check(at_least(1));
  app.add_option("--max-len", o.max_len, "Positions (context length)")
      ->check(at_least(1));
  app.add_option("--vocab-size", o.vocab_size, "Vocabulary size (default: the data's)")
      ->check(at_least(1));
  app.add_option("--data", o.data, "Training shards (files or glob patterns)")->type_name("GLOB");
  app.add_option("--val", o.val, "Validation shards")->type_name("GLOB");
  app.add_flag("--no-shuffle", no_shuffle, "Read examples in file order instead of shuffled blocks and records");
  app.add_option("--seq-len-schedule", o.seq_len_schedule,
                 "Sequence lengths by step: 128:0.9,512:0.1 (phases) or alt:128,512 (alternating); each length trains "
                 "on the --data shards made with that --max-len")
      ->type_name("SPEC");
  app.add_option("--steps", o.steps, "Optimizer steps");
  app.add_option("--batch-size", o.batch_size, "Sequences per optimizer step")->capture_default_str()
      ->check(at_least(1));
  app.add_option("--micro-batch", o.micro_batch, "Sequences per forward/backward; the batch is accumulated (default: all)")
      ->check(at_least(1));
  app.add_option("--recipe", o.recipe,
                 "Optimizer defaults: gpt (AdamW, lr 6e-4, beta2 0.95, wd 0.1, cosine), bert (Adam without bias "
                 "correction, lr 1e-4, eps 1e-6, wd 0.01, clip 1, 10k warmup, linear decay from step 0) or roberta "
                 "(AdamW, lr 6e-4, beta2 0.98, eps 1e-6, wd 0.01, no clipping, 24k warmup, linear decay); default: "
                 "the arch's")
      ->check(CLI::IsMember({"gpt", "bert", "roberta"}));
  app.add_option("--lr", o.lr, "Peak learning rate (default: the recipe's)")
      ->check(above(0));
  app.add_option("--min-lr", o.min_lr, "Learning rate at the end of the decay (gpt: lr / 10; bert, roberta: 0)")
      ->check(at_least(0));
  app.add_option("--warmup", o.warmup, "Linear warmup steps (gpt 0, bert 10000, roberta 24000)");
  app.add_option("--lr-schedule", schedule,
                 "cosine, linear or constant after warmup, or linear-from-start (BERT's: decay measured from step 0)")
      ->check(CLI::IsMember({"cosine", "linear", "constant", "linear-from-start"}));
  app.add_option("--weight-decay", o.weight_decay, "Decoupled weight decay (gpt 0.1: matrices; bert, roberta 0.01: "
                                                   "all but biases and layer norms)")
      ->check(at_least(0));
  app.add_option("--beta1", o.beta1, "Adam beta1 (0.9)")
      ->check(in_range(0, 1, true, false));
  app.add_option("--beta2", o.beta2, "Adam beta2 (gpt 0.95, bert 0.999, roberta 0.98)")
      ->check(in_range(0, 1, true, false));
  app.add_option("--eps", o.eps, "Adam epsilon (gpt 1e-8, bert and roberta 1e-6)")
      ->check(above(0));
  app.add_option("--grad-clip", o.grad_clip, "Clip the global gradient norm to this (0: off; gpt and bert 1, roberta 0)")
      ->check(at_least(0));
  app.add_option("--dropout", o.dropout, "Dropout on embeddings, attention and residuals (gpt 0, bert and roberta 0.1)")
      ->check(in_range(0, 1, true, false));
  app.add_option("--mask-prob", o.mask_prob, "Dynamic masking of pairs shards: the share of tokens to predict")
      ->capture_default_str()
      ->check(in_range(0, 1, false, true));
  app.add_flag("--whole-word", o.whole_word, "Dynamic masking: mask whole words (needs -v)");
  app.add_option("--beta", o.beta, "DPO: how far the policy may move from the reference (the implicit reward's scale)")
      ->capture_default_str()
      ->check(in_range(0, 1e6, false, true));
  app.add_option("--ref", o.ref, "DPO: the frozen reference model (default: --init-from; needed with --resume)")
      ->type_name("DIR");
  app.add_option("--rpo-alpha", o.rpo_alpha,
                 "DPO: add the chosen reply's negative log-likelihood per token, times this (RPO; TRL's rpo_alpha)")
      ->capture_default_str()
      ->check(at_least(0));
  app.add_flag("--precompute-ref", o.precompute_ref,
               "DPO: the reference's log-probabilities of every training record once, before the first step, "
               "instead of in every step");
  std::string vision_presets;
  for (const std::string& name : nn::vision_preset_names())
    vision_presets += (vision_presets.empty() ? "" : ", ") + name;
  app.add_option("--vision", o.vision,
                 "LLaVA: a new vision tower of this shape: " + vision_presets + " (default clip-vit-b-32)")
      ->check(CLI::IsMember(nn::vision_preset_names()));
  app.add_option("--init-vision-from", o.init_vision_from,
                 "LLaVA: start the vision tower from a transformers CLIPVisionModel or CLIPModel directory")
      ->type_name("DIR");
  app.add_option("--projector", o.projector,
                 "LLaVA: mlp2x (LLaVA-1.5's linear, GELU, linear) or linear (LLaVA-1's; transformers has no class for it)")
      ->check(CLI::IsMember({"mlp2x", "linear"}))
      ->capture_default_str();
  app.add_option("--vision-feature-layer", o.vision_feature_layer,
                 "LLaVA: the vision tower's hidden state the projector reads (-1 the last layer's, -2 the one before)")
      ->check(CLI::Range(-1000, -1))
      ->capture_default_str();
  app.add_option("--freeze", o.freeze,
                 "LLaVA: what does not train: vision (LLaVA's second stage: projector and decoder train), vision,lm "
                 "(its first: the projector alone) or none")
      ->check(CLI::IsMember({"vision", "vision,lm", "lm,vision", "none"}))
      ->capture_default_str();
  app.add_option("--eval-every", o.eval_every, "Validate every N steps (0: only at the end)")->capture_default_str();
  app.add_option("--eval-iters", o.eval_iters,
                 "Validate on the first N batches of --batch-size records, the same ones each time (0: all)")
      ->capture_default_str();
  app.add_option("--save-every", o.save_every, "Checkpoint every N steps (0: only at the end)")->capture_default_str();
  app.add_option("--log", o.log, "Append JSON lines (step, loss, lr, grad norm, tokens/s, validation) to FILE")
      ->type_name("FILE");
  app.add_flag("--resume", o.resume, "Continue from the run directory's latest checkpoint, exactly");
  app.add_flag("--overwrite", o.overwrite,
               "Train into a run directory that holds another run, removing its checkpoints and metrics first");
  app.add_option("--init-from", o.init_from, "Start from a checkpoint directory (ours or one transformers saved)")
      ->type_name("DIR");
  app.add_flag("--eval-only", o.eval_only, "Print the validation loss of --init-from as one JSON object and exit");
  app.add_flag("--dry-run", o.dry_run, "Print the parameter count and the memory a step needs, allocate nothing");
  app.add_option("--thread-parallel", o.thread_parallel,
                 "How GPT's --threads share a step: batch (default: each a share of the micro-batch's sequences, "
                 "with a gradient copy of its own) or ops (all on every matrix product: less memory; BERT and "
                 "RoBERTa always)")
      ->check(CLI::IsMember({"batch", "ops"}));
  app.add_option("--precision", o.precision,
                 "Matrix products in fp32, or bf16 (operands rounded to bfloat16, sums in fp32; CPUs with "
                 "AVX512-BF16, elsewhere a warning and fp32); weights, gradients and optimizer stay fp32")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_flag("--skip-nonfinite", o.skip_nonfinite, "Skip steps whose loss or gradient is not finite instead of stopping");
  app.add_option("-v,--vocab", o.vocab, "Tokenizer files to copy into checkpoints (default: a shipped vocabulary "
                                        "that matches the data)")
      ->type_name("VOCAB");

  const int status = run_main(app, argc, argv, [&] {
    o.shuffle = !no_shuffle;
    if (schedule)
      o.schedule = *schedule == "cosine"              ? nn::Schedule::kCosine
                   : *schedule == "linear"            ? nn::Schedule::kLinear
                   : *schedule == "linear-from-start" ? nn::Schedule::kLinearFromStart
                                                      : nn::Schedule::kConstant;
    o.out_dir = common.output;
    o.seed = common.seed;
    o.threads = common.thread_count();
    o.show_progress = common.show_progress();
    o.quiet = common.quiet;
    OutputFile out("-", OutputContent::kText);
    train::run_pretrain(o, out);
    out.commit();
  }, [&](int failure_status) { return world.should_print(failure_status); });
  // A rank that failed after the ranks agreed to go on takes the job down, so that the others do not wait
  // for it in the next reduction.
  if (status != 0 && world.must_abort()) world.abort(status);
  return status;
}
