#include "tok/special_tokens.h"

namespace lmpipe::tok {

SpecialTokenMatcher::SpecialTokenMatcher(const Vocab& vocab) {
  for (uint32_t id : vocab.added_token_ids()) {
    const std::string& token = vocab.tokens[id];
    tokens_.emplace_back(token, id);
    if (first_bytes_.find(token[0]) == std::string::npos) first_bytes_ += token[0];
  }
}

const std::pair<std::string, uint32_t>* SpecialTokenMatcher::longest_at(std::string_view text) const {
  const std::pair<std::string, uint32_t>* best = nullptr;
  for (const auto& token : tokens_)
    if (text.starts_with(token.first) && (!best || token.first.size() > best->first.size())) best = &token;
  return best;
}

}  // namespace lmpipe::tok
