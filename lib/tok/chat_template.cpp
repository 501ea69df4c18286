#include "tok/chat_template.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lmpipe::tok {

const std::string_view ChatMlTemplate::kJinja =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}{% else %}{{ message['content'] + '<|im_end|>' + '\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

ChatMlTemplate::ChatMlTemplate(const Tokenizer& tokenizer) : vocab_(tokenizer.vocab()) {
  std::vector<std::string> missing;
  for (const auto& [marker, id] : {std::pair(kStart, &start_), std::pair(kEnd, &end_)}) {
    const auto it = vocab_.ids.find(marker);
    if (it == vocab_.ids.end())
      missing.emplace_back(marker);
    else
      *id = it->second;
  }
  if (!missing.empty()) {
    std::string add;
    for (const std::string& m : missing) add += fmt::format(" --add-special '{}'", m);
    throw Error(fmt::format("{}: the vocabulary has no {} for the ChatML template; tok-train --extend {}{} -o DIR "
                            "writes one that has",
                            vocab_.source, fmt::join(missing, " or "), vocab_.source, add));
  }
  const auto session = tokenizer.session();
  session->encode("\n", newline_ids_);
  if (vocab_.kind == VocabKind::kByteLevelBpe) {
    token_bytes_.resize(vocab_.size());
    for (uint32_t id = 0; id < vocab_.size(); ++id) token_bytes_[id] = uint32_t(vocab_.token_bytes(id).size());
  }
}

void ChatMlTemplate::render(const Conversation& conversation, Tokenizer::Session& session, ChatTokens& out,
                            const Placeholder* placeholder) const {
  std::string text;
  for (const Message& m : conversation) {
    const bool target = m.role == "assistant";
    out.ids.push_back(start_);
    out.loss_mask.push_back(0);
    // "{role}\n{content}", cut at the placeholders: each piece encodes on its own, the placeholder's id between.
    text.assign(m.role).append("\n").append(m.content);
    const size_t prefix = m.role.size() + 1;
    size_t piece = 0;
    while (true) {
      const size_t at = placeholder != nullptr && !placeholder->text.empty()
                            ? text.find(placeholder->text, std::max(piece, prefix))
                            : std::string::npos;
      encode_piece(std::string_view(text).substr(piece, at == std::string::npos ? std::string::npos : at - piece),
                   piece, prefix, target, session, out);
      if (at == std::string::npos) break;
      out.ids.push_back(placeholder->id);
      out.loss_mask.push_back(0);
      piece = at + placeholder->text.size();
    }
    out.ids.push_back(end_);
    out.loss_mask.push_back(target);
    out.ids.insert(out.ids.end(), newline_ids_.begin(), newline_ids_.end());
    out.loss_mask.resize(out.ids.size(), 0);
  }
}

void ChatMlTemplate::encode_piece(std::string_view piece, size_t offset, size_t prefix, bool target,
                                  Tokenizer::Session& session, ChatTokens& out) const {
  const size_t first = out.ids.size();
  if (!token_bytes_.empty()) {
    // Byte-level BPE: the piece as it is; a token is a target when it ends past the "{role}\n" prefix.
    session.encode(piece, out.ids);
    uint64_t end = offset;
    for (size_t i = first; i < out.ids.size(); ++i) {
      end += token_bytes_[out.ids[i]];
      out.loss_mask.push_back(target && end > prefix);
    }
    return;
  }
  // WordPiece splits at the newline whatever follows it: the role and the content encode apart.
  if (offset < prefix) {
    session.encode(piece.substr(0, prefix - offset), out.ids);
    out.loss_mask.resize(out.ids.size(), 0);
    piece.remove_prefix(std::min(piece.size(), prefix - offset));
  }
  session.encode(piece, out.ids);
  out.loss_mask.resize(out.ids.size(), target);
}

void ChatMlTemplate::render_prompt(const Conversation& conversation, Tokenizer::Session& session,
                                   std::vector<uint32_t>& ids) const {
  ChatTokens tokens;
  render(conversation, session, tokens);
  ids.insert(ids.end(), tokens.ids.begin(), tokens.ids.end());
  ids.push_back(start_);
  session.encode("assistant\n", ids);
}

void ChatMlTemplate::render_reply(std::string_view content, Tokenizer::Session& session,
                                  std::vector<uint32_t>& ids) const {
  session.encode(content, ids);
  ids.push_back(end_);
}

std::vector<std::pair<std::string, std::string>> ChatMlTemplate::hf_tokenizer_files(size_t model_max_length) const {
  nlohmann::ordered_json added = nlohmann::ordered_json::object();
  for (const uint32_t id : vocab_.added_token_ids())
    added[std::to_string(id)] = {{"content", vocab_.tokens[id]}, {"lstrip", false}, {"normalized", false},
                                 {"rstrip", false},          {"single_word", false}, {"special", true}};
  const auto specials = vocab_.special_ids();
  // GPT-2's <|endoftext|> begins and pads; a vocabulary without it (WordPiece) keeps its own roles.
  const auto role = [&](const char* name, std::string_view fallback) -> std::string {
    const auto it = specials.find(name);
    return it != specials.end() ? vocab_.tokens[it->second] : std::string(fallback);
  };
  const std::string bos = vocab_.kind == VocabKind::kByteLevelBpe ? role("eot", kStart) : role("cls", kStart);
  const std::string unk = vocab_.kind == VocabKind::kByteLevelBpe ? role("eot", kEnd) : role("unk", kEnd);
  nlohmann::ordered_json config = {
      {"tokenizer_class", vocab_.kind == VocabKind::kByteLevelBpe ? "GPT2Tokenizer" : "BertTokenizer"},
      {"model_max_length", model_max_length},
      {"add_bos_token", false},
      {"bos_token", bos},
      {"eos_token", std::string(kEnd)},
      {"unk_token", unk},
      {"pad_token", unk},
      {"clean_up_tokenization_spaces", false},
      {"added_tokens_decoder", added},
      {"chat_template", std::string(kJinja)}};
  const nlohmann::ordered_json special_map = {{"bos_token", bos},
                                              {"eos_token", std::string(kEnd)},
                                              {"unk_token", unk},
                                              {"pad_token", unk},
                                              {"additional_special_tokens", {std::string(kStart), std::string(kEnd)}}};
  return {{"tokenizer_config.json", config.dump(2) + "\n"}, {"special_tokens_map.json", special_map.dump(2) + "\n"}};
}

}  // namespace lmpipe::tok
