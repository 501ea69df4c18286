#include "train/pretrain.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::train {

Recipe resolve_recipe(const PretrainOptions& o) {
  const std::string name = o.recipe.empty() ? default_recipe(o.arch) : o.recipe;
  std::optional<Recipe> recipe = find_recipe(name);
  if (!recipe) throw UsageError(fmt::format("unknown --recipe {}", name));
  Recipe& r = *recipe;
  if (o.lr) r.lr = *o.lr;
  if (o.min_lr) r.min_lr = *o.min_lr;
  if (o.warmup) r.warmup = *o.warmup;
  if (o.schedule) r.schedule = *o.schedule;
  if (o.weight_decay) r.weight_decay = *o.weight_decay;
  if (o.beta1) r.beta1 = *o.beta1;
  if (o.beta2) r.beta2 = *o.beta2;
  if (o.eps) r.eps = *o.eps;
  if (o.grad_clip) r.grad_clip = *o.grad_clip;
  if (o.dropout) r.dropout = *o.dropout;
  if (r.min_lr < 0) r.min_lr = r.lr / 10;
  return r;
}

void run_pretrain(const PretrainOptions& o, ByteSink& out) {
  const Recipe recipe = resolve_recipe(o);
  if (o.arch == "gpt" || o.arch == "gpt1") {
    run_gpt_pretrain(o, recipe, out);
  } else if (o.arch == "bert" || o.arch == "roberta") {
    run_encoder_pretrain(o, recipe, out);
  } else {
    throw UsageError(fmt::format("unknown --arch {}", o.arch));
  }
}

}  // namespace lmpipe::train
