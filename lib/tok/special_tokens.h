#pragma once
// Special-token strings recognised in raw text, for tok-encode --special-in-text: the text is cut at
// every occurrence of an added token's string (Vocab::added_token_ids), leftmost first and the longest
// where several start at one place, as tiktoken's encode(allowed_special="all") and HuggingFace's
// added-token matcher do; the pieces between are encoded as ordinary text. Off by default: a special
// token's string inside a document is text, so a corpus cannot forge separators or chat turns.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tok/vocab.h"

namespace lmpipe::tok {

class SpecialTokenMatcher {
 public:
  explicit SpecialTokenMatcher(const Vocab& vocab);

  // Calls on_text(piece) for each non-empty stretch of text between matches and on_special(id) for
  // each match, in text order.
  template <class OnText, class OnSpecial>
  void split(std::string_view text, OnText&& on_text, OnSpecial&& on_special) const {
    size_t pos = 0;
    for (size_t at = 0;;) {
      at = text.find_first_of(first_bytes_, at);
      if (at == std::string_view::npos) break;
      const auto* match = longest_at(text.substr(at));
      if (!match) {
        ++at;
        continue;
      }
      if (at > pos) on_text(text.substr(pos, at - pos));
      on_special(match->second);
      pos = at = at + match->first.size();
    }
    if (pos < text.size()) on_text(text.substr(pos));
  }

 private:
  const std::pair<std::string, uint32_t>* longest_at(std::string_view text) const;

  std::vector<std::pair<std::string, uint32_t>> tokens_;
  std::string first_bytes_;  // the bytes a special token can start with
};

}  // namespace lmpipe::tok
