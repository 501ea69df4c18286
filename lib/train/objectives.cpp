// The objectives pretrain can train, one row each; an objective's code is its own file.
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "train/objective.h"

namespace lmpipe::train {

std::unique_ptr<Objective> make_next_token(const ObjectiveSetup& setup);  // train/next_token.cpp
std::unique_ptr<Objective> make_masked_lm(const ObjectiveSetup& setup);   // train/masked_lm.cpp
std::unique_ptr<Objective> make_reward_model(const ObjectiveSetup& setup);  // train/reward_model.cpp
std::unique_ptr<Objective> make_dpo(const ObjectiveSetup& setup);           // train/dpo.cpp
std::unique_ptr<Objective> make_llava(const ObjectiveSetup& setup);         // train/llava.cpp

const std::vector<ObjectiveInfo>& objectives() {
  static const std::vector<ObjectiveInfo> all{
      {"next-token",
       "GPT's: predict every next token of windows shards, or what the assistant says in chat shards "
       "(supervised fine-tuning) (--arch gpt, gpt1)",
       {io::RecordKind::kWindows, io::RecordKind::kChat}, &make_next_token},
      {"masked-lm",
       "BERT's and RoBERTa's: predict masked tokens of masked shards, or of pairs shards masked anew each time "
       "(--mask-prob, --whole-word), and BERT's next sentence (--arch bert, roberta)",
       {io::RecordKind::kPairs, io::RecordKind::kMasked}, &make_masked_lm},
      {"reward",
       "InstructGPT's reward model: a scalar at the last token of prompt + reply, chosen above rejected "
       "(-log sigmoid of the difference) on prefs shards; --init-from a language model replaces its head "
       "(--arch gpt)",
       {io::RecordKind::kPrefs}, &make_reward_model, true},
      {"dpo",
       "Direct preference optimization: a language model learns the chosen reply over the rejected one against "
       "a frozen reference (--init-from, or --ref), on prefs shards (--beta) (--arch gpt)",
       {io::RecordKind::kPrefs}, &make_dpo},
      {"llava",
       "LLaVA's: a vision tower reads each picture, a projector puts its patches where the placeholder is, and the "
       "decoder predicts the text the loss mask marks, on images shards; --freeze vision,lm trains the projector "
       "alone (stage 1), --freeze vision the projector and decoder (stage 2) (--arch llava)",
       {io::RecordKind::kImages}, &make_llava},
  };
  return all;
}

const ObjectiveInfo& find_objective(std::string_view name) {
  std::string names;
  for (const ObjectiveInfo& info : objectives()) {
    if (info.name == name) return info;
    names += (names.empty() ? "" : ", ") + std::string(info.name);
  }
  throw UsageError(fmt::format("unknown --objective {} (the objectives are {})", name, names));
}

std::string_view default_objective(std::string_view arch) {
  if (arch == "llava") return "llava";
  return arch == "bert" || arch == "roberta" ? "masked-lm" : "next-token";
}

Evaluation cross_entropy_evaluation(double loss_sum, double targets) {
  const auto tokens = uint64_t(targets);
  const double loss = tokens ? loss_sum / targets : 0;
  Evaluation e;
  e.summary = {{"loss", loss}, {"ppl", std::exp(loss)}, {"tokens", tokens}};
  e.logged = {{"val_loss", loss}, {"val_ppl", std::exp(loss)}};
  e.text = fmt::format("val loss {:.4f} (ppl {:.2f})", loss, std::exp(loss));
  return e;
}

nlohmann::ordered_json dry_run_json(const nn::TransformerShape& c, uint64_t parameters, size_t micro, size_t seq_len,
                                    uint64_t activation_bytes) {
  const uint64_t weights = parameters * 4, training_state = parameters * 4 * 3;
  return {{"parameters", parameters},   {"n_layer", c.n_layer},
          {"n_head", c.n_head},         {"d_model", c.d_model},
          {"d_ff", c.d_ff},             {"max_len", c.max_len},
          {"vocab_size", c.vocab_size}, {"micro_batch", micro},
          {"seq_len", seq_len},         {"bytes_weights", weights},
          {"bytes_grads_and_adamw", training_state}, {"bytes_activations", activation_bytes},
          {"bytes_total", weights + training_state + activation_bytes}};
}

}  // namespace lmpipe::train
