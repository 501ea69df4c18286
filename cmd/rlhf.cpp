// rlhf: train a chat policy against a reward model with PPO (and PPO-ptx), as InstructGPT does. Flags
// here; the work is lib/rl/ppo_trainer.cpp.
#include <string>

#include <fmt/format.h>

#include "core/cli.h"
#include "core/error.h"
#include "nn/runtime.h"
#include "rl/ppo_trainer.h"

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);  // may re-execute once with better BLAS settings
  using namespace lmpipe;
  CLI::App app{"Reinforcement learning from a reward model: PPO (InstructGPT's step 3) from an SFT policy, a reward "
               "model (pretrain --objective reward) and prompts (make-prefs --prompts-only); checkpoints of the "
               "policy in the run directory.",
               "rlhf"};
  CommonOptions common;
  rl::RlhfOptions o;
  add_common_options(app, common, "The run directory (checkpoints step-N/ with the value model in step-N/value/, "
                                  "latest, metrics.jsonl, loss.svg)");
  app.add_option("--policy", o.policy, "The SFT model: the policy's start and the frozen reference")
      ->type_name("DIR")
      ->required();
  app.add_option("--reward", o.reward, "The reward model (frozen); the value model starts from it")
      ->type_name("DIR")
      ->required();
  app.add_option("--prompts", o.prompts, "Chat shard of prompts (make-prefs --prompts-only)")
      ->type_name("SHARD")
      ->required();
  app.add_option("--rloo", o.rloo_k,
                 "RLOO instead of PPO's value model: K answers to each prompt (--batch-size counts answers), each "
                 "one's baseline the others' mean reward")
      ->type_name("K");
  app.add_option("--value", o.value, "Start the value model from this score model instead")->type_name("DIR");
  app.add_option("--ref", o.ref, "Use this language model as the reference instead")->type_name("DIR");
  app.add_option("--iterations", o.iterations, "Rollout batches to train on")->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "Prompts (rollouts) per iteration")->capture_default_str();
  app.add_option("--minibatch", o.minibatch, "Rollouts per optimisation step")->capture_default_str();
  app.add_option("--ppo-epochs", o.ppo_epochs, "Passes over each iteration's rollouts")->capture_default_str();
  app.add_option("--max-new-tokens", o.max_new_tokens, "Tokens a response has at most")->capture_default_str();
  app.add_option("--temperature", o.sampling.temperature,
                 "Sample rollouts from softmax(logits / T); PPO's log-probabilities are of that distribution")
      ->capture_default_str();
  app.add_option("--top-k", o.sampling.top_k, "Sample rollouts among the K most probable tokens (0: all)")
      ->capture_default_str();
  app.add_option("--top-p", o.sampling.top_p, "Sample rollouts from the nucleus of probability P (1: all)")
      ->capture_default_str();
  app.add_option("--lr", o.lr, "The policy's learning rate (AdamW, constant)")->capture_default_str();
  app.add_option("--value-lr", o.value_lr, "The value model's learning rate (0: --lr)")->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "AdamW's decoupled weight decay")->capture_default_str();
  app.add_option("--grad-clip", o.grad_clip, "Clip each model's gradient to this norm (0: off)")->capture_default_str();
  app.add_option("--kl-coef", o.kl_coef, "The KL penalty's coefficient (the start, with --target-kl)")
      ->capture_default_str();
  app.add_option("--target-kl", o.target_kl, "Adapt the coefficient towards this KL per response (0: fixed)")
      ->capture_default_str();
  app.add_option("--kl-horizon", o.kl_horizon, "The adaptive controller's horizon, in rollouts")->capture_default_str();
  app.add_option("--gamma", o.gamma, "GAE's discount")->capture_default_str();
  app.add_option("--lam", o.lam, "GAE's lambda")->capture_default_str();
  app.add_option("--clip", o.clip, "The surrogate's ratio clip")->capture_default_str();
  app.add_option("--value-clip", o.value_clip, "The value loss's clip around the rollout's values")
      ->capture_default_str();
  app.add_option("--vf-coef", o.vf_coef, "The value loss's weight")->capture_default_str();
  app.add_option("--ptx-coef", o.ptx_coef, "PPO-ptx: the weight of the language-model loss on --ptx-data")
      ->capture_default_str();
  app.add_option("--ptx-data", o.ptx_data, "PPO-ptx: windows shard (make-pairs --task causal)")->type_name("SHARD");
  app.add_option("--ptx-batch", o.ptx_batch, "PPO-ptx: windows per optimisation step (0: --minibatch)")
      ->capture_default_str();
  app.add_option("--save-every", o.save_every, "Iterations between checkpoints (0: the last only)")
      ->capture_default_str();
  app.add_flag("--resume", o.resume, "Continue the run in -o from its latest checkpoint");
  app.add_flag("--overwrite", o.overwrite, "Start afresh in a run directory that holds a run");
  app.add_option("--log", o.log, "Append every metrics record to FILE too")->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    if (o.rloo_k > 0)
      for (const char* flag : {"--value-lr", "--vf-coef", "--value-clip", "--gamma", "--lam"})
        if (app.count(flag) > 0) throw UsageError(fmt::format("{} is PPO's value model's: --rloo has none", flag));
    o.out_dir = common.output;
    o.threads = common.thread_count();
    o.quiet = common.quiet;
    o.seed = common.seed;
    rl::run_rlhf(o);
  });
}
