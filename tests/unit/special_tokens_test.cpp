// Special-token strings in text: text by default for every vocabulary, recognised with
// TokenizerOptions::special_in_text (tok-encode --special-in-text); which tokens count as added.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "text/unicode.h"
#include "tok/special_tokens.h"
#include "tok/tokenizer.h"
#include "tok/vocab.h"

using namespace lmpipe;
using namespace lmpipe::tok;

namespace {

std::vector<uint32_t> encode(const std::string& vocab, const std::string& text, bool special_in_text) {
  TokenizerOptions options;
  options.special_in_text = special_in_text;
  const auto tokenizer = Tokenizer::load(vocab, options);
  std::vector<uint32_t> ids;
  tokenizer->session()->encode(text, ids);
  return ids;
}

// A byte-level BPE vocabulary: the 256 byte symbols, one merge ("a" "b" -> "ab"), and the given
// added tokens after them.
Vocab small_bpe(const std::vector<std::string>& added) {
  Vocab v;
  v.kind = VocabKind::kByteLevelBpe;
  for (uint32_t codepoint : byte_to_codepoint()) {
    std::string symbol;
    text::append_utf8(symbol, codepoint);
    v.tokens.push_back(symbol);
  }
  v.tokens.push_back("ab");
  v.merges.emplace_back("a", "b");
  for (const std::string& token : added) v.tokens.push_back(token);
  for (uint32_t id = 0; id < v.size(); ++id) v.ids.emplace(v.tokens[id], id);
  v.merge_ids.push_back({v.ids.at("a"), v.ids.at("b"), v.ids.at("ab")});
  return v;
}

struct Piece {
  std::string text;
  uint32_t special = UINT32_MAX;
  bool operator==(const Piece&) const = default;
};

std::vector<Piece> split(const SpecialTokenMatcher& matcher, std::string_view text) {
  std::vector<Piece> out;
  matcher.split(
      text, [&](std::string_view piece) { out.push_back({std::string(piece)}); },
      [&](uint32_t id) { out.push_back({"", id}); });
  return out;
}

}  // namespace

TEST_CASE("added tokens: BPE tokens no merge makes, WordPiece's bracketed specials") {
  CHECK(load_vocab("gpt2").added_token_ids() == std::vector<uint32_t>{50256});
  CHECK(load_vocab("bert-base-uncased").added_token_ids() == std::vector<uint32_t>{0, 100, 101, 102, 103});
  const Vocab v = small_bpe({"<s>", "</s>", "<|im_start|>"});
  CHECK(v.added_token_ids() == std::vector<uint32_t>{257, 258, 259});
}

TEST_CASE("special-token strings in text are text unless asked") {
  // GPT-2: what tiktoken's encode_ordinary gives, and with allowed_special="all" <|endoftext|> is 50256.
  CHECK(encode("gpt2", "a<|endoftext|>b", false) == std::vector<uint32_t>{64, 27, 91, 437, 1659, 5239, 91, 29, 65});
  CHECK(encode("gpt2", "a<|endoftext|>b", true) == std::vector<uint32_t>{64, 50256, 65});
  // BERT: google-research/bert's (and HF's with encode_special_tokens) pieces, or HF's default ids.
  CHECK(encode("bert-base-uncased", "a[SEP]b", false) == std::vector<uint32_t>{1037, 1031, 19802, 1033, 1038});
  CHECK(encode("bert-base-uncased", "a[SEP]b", true) == std::vector<uint32_t>{1037, 102, 1038});
  // Matched in the raw text, before lowercasing: "[sep]" is not [SEP].
  CHECK(encode("bert-base-uncased", "[sep] [MASK][CLS]", true) == std::vector<uint32_t>{1031, 19802, 1033, 103, 101});
}

TEST_CASE("the matcher cuts leftmost first, longest at one place, and keeps the text between") {
  const Vocab v = small_bpe({"<s>", "</s>", "<|im", "<|im_start|>"});
  const SpecialTokenMatcher matcher(v);
  CHECK(split(matcher, "").empty());
  CHECK(split(matcher, "plain <text>") == std::vector<Piece>{{"plain <text>"}});
  CHECK(split(matcher, "<s>x</s>") == std::vector<Piece>{{"", 257}, {"x"}, {"", 258}});
  CHECK(split(matcher, "a<|im_start|>b<|im_end|>") ==
        std::vector<Piece>{{"a"}, {"", 260}, {"b"}, {"", 259}, {"_end|>"}});
  CHECK(split(matcher, "<<s></s") == std::vector<Piece>{{"<"}, {"", 257}, {"</s"}});
}
