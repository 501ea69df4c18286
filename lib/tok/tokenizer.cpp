#include "tok/tokenizer.h"

#include <fmt/format.h>

#include "core/error.h"
#include "tok/bpe.h"
#include "tok/wordpiece.h"

namespace lmpipe::tok {
namespace {

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(Vocab vocab, bool special_in_text) : Tokenizer(std::move(vocab), special_in_text), encoder_(vocab_) {}
  std::unique_ptr<Session> session() const override { return std::make_unique<BpeSession>(encoder_, specials()); }

 private:
  class BpeSession final : public Session {
   public:
    BpeSession(const BpeEncoder& encoder, const SpecialTokenMatcher* specials) : Session(specials), encoder_(encoder) {}
    void encode_ordinary(std::string_view text, std::vector<uint32_t>& ids) override {
      encoder_.encode(text, ids, cache_);
    }

   private:
    const BpeEncoder& encoder_;
    BpeCache cache_;
  };
  BpeEncoder encoder_;
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  WordPieceTokenizer(Vocab vocab, bool special_in_text, const WordPieceOptions& options)
      : Tokenizer(std::move(vocab), special_in_text), encoder_(vocab_, options) {}
  std::unique_ptr<Session> session() const override {
    return std::make_unique<WordPieceSession>(encoder_, specials());
  }

 private:
  class WordPieceSession final : public Session {
   public:
    WordPieceSession(const WordPieceEncoder& encoder, const SpecialTokenMatcher* specials)
        : Session(specials), encoder_(encoder) {}
    void encode_ordinary(std::string_view text, std::vector<uint32_t>& ids) override { encoder_.encode(text, ids); }

   private:
    const WordPieceEncoder& encoder_;
  };
  WordPieceEncoder encoder_;
};

// A vocabulary is cased when it has tokens with upper-case ASCII letters, bracketed specials
// ([CLS], [unused0], ...) aside: bert-base-cased has them, bert-base-uncased has none.
bool has_upper_case_tokens(const Vocab& vocab) {
  for (const std::string& token : vocab.tokens) {
    if (token.size() >= 2 && token.front() == '[' && token.back() == ']') continue;
    for (char c : token)
      if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

}  // namespace

void Tokenizer::Session::encode(std::string_view text, std::vector<uint32_t>& ids) {
  if (!specials_) return encode_ordinary(text, ids);
  specials_->split(
      text, [&](std::string_view piece) { encode_ordinary(piece, ids); }, [&](uint32_t id) { ids.push_back(id); });
}

Tokenizer::Tokenizer(Vocab vocab, bool special_in_text) : vocab_(std::move(vocab)) {
  if (special_in_text) specials_.emplace(vocab_);
  const auto specials = vocab_.special_ids();
  const auto role = [&](const char* name) -> std::optional<uint32_t> {
    const auto it = specials.find(name);
    return it == specials.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  };
  if (role("cls") && role("sep")) {
    prefix_ = {*role("cls")};
    suffix_ = {*role("sep")};
  } else if (role("bos") && role("eos")) {
    prefix_ = {*role("bos")};
    suffix_ = {*role("eos")};
  } else if (role("eot")) {
    suffix_ = {*role("eot")};
  }
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& spec, const TokenizerOptions& options) {
  Vocab vocab = load_vocab(spec);
  if (vocab.kind == VocabKind::kByteLevelBpe)
    return std::make_unique<BpeTokenizer>(std::move(vocab), options.special_in_text);
  WordPieceOptions wp;
  wp.normalizer.lowercase = options.lowercase.value_or(!has_upper_case_tokens(vocab));
  wp.normalizer.style = options.google_normalizer ? text::BertStyle::kGoogle : text::BertStyle::kHuggingFace;
  wp.max_input_chars_per_word = options.max_input_chars_per_word;
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), options.special_in_text, wp);
}

}  // namespace lmpipe::tok
