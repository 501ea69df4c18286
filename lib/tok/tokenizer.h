#pragma once
// A vocabulary together with the encoder that goes with it (byte-level BPE or WordPiece), behind one
// interface: what tok-encode, make-pairs and sample need without caring which tokenizer it is.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tok/special_tokens.h"
#include "tok/vocab.h"

namespace lmpipe::tok {

struct TokenizerOptions {
  // Whether the strings of added tokens ([SEP], <|endoftext|>, <mask>, ...) in text encode as those
  // tokens (tok-encode --special-in-text). Default: they are text, as tiktoken's encode_ordinary and
  // google-research/bert treat them.
  bool special_in_text = false;
  // WordPiece only.
  std::optional<bool> lowercase;          // unset: uncased unless the vocabulary has upper-case tokens
  bool google_normalizer = false;         // google-research/bert's cleaning instead of HuggingFace's
  size_t max_input_chars_per_word = 100;  // HuggingFace's; google-research/bert uses 200
};

class Tokenizer {
 public:
  // Encoding state for one thread (caches).
  class Session {
   public:
    virtual ~Session() = default;
    // Appends the ids of text, adding no special tokens of its own (no --add-special framing).
    void encode(std::string_view text, std::vector<uint32_t>& ids);

   protected:
    explicit Session(const SpecialTokenMatcher* specials) : specials_(specials) {}
    // Text with no special tokens recognised in it.
    virtual void encode_ordinary(std::string_view text, std::vector<uint32_t>& ids) = 0;

   private:
    const SpecialTokenMatcher* specials_;  // null: special-token strings are text
  };

  // VOCAB as load_vocab() takes it.
  static std::unique_ptr<Tokenizer> load(const std::string& spec, const TokenizerOptions& options = {});
  virtual ~Tokenizer() = default;

  virtual std::unique_ptr<Session> session() const = 0;
  const Vocab& vocab() const { return vocab_; }
  // --add-special: what the tokenizer's post-processor wraps a sequence in. BERT: [CLS] x [SEP];
  // RoBERTa: <s> x </s>; GPT-2: x <|endoftext|>.
  const std::vector<uint32_t>& special_prefix() const { return prefix_; }
  const std::vector<uint32_t>& special_suffix() const { return suffix_; }

 protected:
  Tokenizer(Vocab vocab, bool special_in_text);
  const SpecialTokenMatcher* specials() const { return specials_ ? &*specials_ : nullptr; }
  Vocab vocab_;
  std::vector<uint32_t> prefix_, suffix_;
  std::optional<SpecialTokenMatcher> specials_;
};

}  // namespace lmpipe::tok
