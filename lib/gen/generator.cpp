#include "gen/generator.h"

#include <filesystem>

#include <fmt/format.h>

#include "checkpoint/model_dir.h"
#include "core/error.h"

namespace lmpipe::gen {

Generator load_generator(const std::string& checkpoint, const std::string& vocab) {
  namespace fs = std::filesystem;
  checkpoint::LoadedModel loaded = checkpoint::load_model_dir(checkpoint);
  const auto* gpt = std::get_if<nn::GptConfig>(&loaded.config);
  if (gpt == nullptr)
    throw Error(fmt::format("{}: a {} model, not a GPT to generate from", checkpoint, nn::model_type(loaded.config)));
  const nn::GptConfig& config = *gpt;
  if (config.head != nn::GptHead::kLm)
    throw Error(fmt::format("{}: a reward model (a score head, GPT2ForSequenceClassification), not a language model to "
                            "generate from",
                            checkpoint));
  Generator g;
  g.vocab_spec = vocab.empty() ? loaded.dir : vocab;
  if (vocab.empty() && !fs::exists(fs::path(loaded.dir) / "vocab.json") && !fs::exists(fs::path(loaded.dir) / "encoder.json"))
    throw Error(fmt::format("{}: no tokenizer files (vocab.json and merges.txt); name one with -v", checkpoint));
  g.tokenizer = tok::Tokenizer::load(g.vocab_spec);
  const tok::Vocab& v = g.tokenizer->vocab();
  if (v.kind != tok::VocabKind::kByteLevelBpe)
    throw Error(fmt::format("{}: a GPT checkpoint needs a byte-level BPE tokenizer", g.vocab_spec));
  if (config.vocab_size < v.size())
    throw Error(fmt::format("{}: the model has {} outputs but the tokenizer {} tokens", checkpoint, config.vocab_size,
                            v.size()));
  g.model = std::make_unique<nn::Gpt<float>>(config, nn::ModelBuffers::kLayout);
  g.model->params() = std::move(loaded.params);
  g.decoder = std::make_unique<nn::GptDecoder<float>>(*g.model);
  g.weights_bf16 = nn::copy_for_bf16_products(g.model->params().data(), g.model->params().size());
  return g;
}

}  // namespace lmpipe::gen
