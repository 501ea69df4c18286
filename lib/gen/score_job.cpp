#include "gen/score_job.h"

#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "core/input_file.h"
#include "gen/chat.h"
#include "gen/file_lines.h"
#include "nn/gpt.h"
#include "nn/layers.h"
#include "nn/onednn_gemm.h"
#include "tok/chat_template.h"
#include "tok/conversation.h"
#include "tok/tokenizer.h"

namespace lmpipe::gen {

void run_score(const std::string& checkpoint, const std::string& file, const std::string& vocab, ByteSink& out) {
  checkpoint::LoadedModel loaded = checkpoint::load_model_dir(checkpoint);
  const auto* config = std::get_if<nn::GptConfig>(&loaded.config);
  if (config == nullptr) throw UsageError(fmt::format("--score needs a GPT chat model or reward model; {} is not one", checkpoint));
  const bool reward = config->head == nn::GptHead::kScore;
  const auto tokenizer = tok::Tokenizer::load(vocab.empty() ? loaded.dir : vocab);
  if (tokenizer->vocab().size() > config->vocab_size)
    throw UsageError(fmt::format("{}: the tokenizer has {} tokens for a model of {} ids", checkpoint,
                                 tokenizer->vocab().size(), config->vocab_size));
  const tok::ChatMlTemplate chat_template = chat_template_for(*tokenizer, checkpoint);
  nn::Gpt<float> model(*config, nn::ModelBuffers::kLayout);
  model.params() = std::move(loaded.params);
  const auto weights_bf16 = nn::copy_for_bf16_products(model.params().data(), model.params().size());
  const auto session = tokenizer->session();

  std::vector<uint32_t> ids, targets;
  for_each_file_line(file, [&](std::string_view line, size_t line_number) {
    const auto fail = [&](const std::string& what) { return Error(fmt::format("{}:{}: {}", file, line_number, what)); };
    tok::Conversation conversation;
    try {
      conversation = tok::parse_conversation(line, tok::ChatFormat::kMessages, false);
    } catch (const Error& e) {
      throw fail(e.what());
    }
    if (conversation.empty() || conversation.back().role != "assistant")
      throw fail("the last message is not the assistant's reply to score");
    const std::string reply = conversation.back().content;
    conversation.pop_back();
    ids.clear();
    chat_template.render_prompt(conversation, *session, ids);
    size_t prompt = ids.size();
    chat_template.render_reply(reply, *session, ids);
    // Too long: the prompt loses tokens from its start, as sample's prompts do; the reply stays whole.
    if (ids.size() > config->max_len) {
      const size_t cut = ids.size() - config->max_len;
      if (cut >= prompt)
        throw fail(fmt::format("a reply of {} tokens leaves no room for its prompt in the model's {} positions",
                               ids.size() - prompt, config->max_len));
      ids.erase(ids.begin(), ids.begin() + std::ptrdiff_t(cut));
      prompt -= cut;
    }
    nlohmann::ordered_json j;
    if (reward) {
      const uint32_t last = uint32_t(ids.size() - 1);
      float score = 0;
      model.score(&score, ids.data(), &last, 1, ids.size(), false);
      j["reward"] = score;
    } else {
      // Reply token t is predicted at row prompt - 1 + t of the inputs ids[0, n - 1).
      const size_t T = ids.size() - 1;
      targets.assign(T, nn::kIgnore);
      for (size_t row = prompt - 1; row < T; ++row) targets[row] = ids[row + 1];
      model.forward(ids.data(), targets.data(), 1, T);
      double logprob = 0;
      for (size_t row = prompt - 1; row < T; ++row) logprob -= model.token_losses()[row];
      j["logprob"] = logprob;
      j["tokens"] = T - (prompt - 1);
    }
    write_text(out, j.dump() + "\n");
  });
}

}  // namespace lmpipe::gen
