#pragma once
// BERT's basic tokenizer: the normaliser (clean, CJK spacing, accent stripping, lowercasing) and the
// split into words, in the two flavours that disagree at the edges: HuggingFace tokenizers'
// BertNormalizer + BertPreTokenizer, and google-research/bert's tokenization.BasicTokenizer.
// WordPiece (tok/wordpiece.h) then cuts each word into vocabulary pieces.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lmpipe::text {

enum class BertStyle {
  // HuggingFace tokenizers: drops every Cc/Cf/Co character, turns White_Space into spaces, strips
  // accents before lowercasing, lowercases character by character. Its category tables are older
  // than Unicode 15; the differences are reproduced (see bert_pretokenizer.cpp).
  kHuggingFace,
  // google-research/bert: drops only Cc/Cf, lowercases with Python's str.lower() (final sigma
  // included) and then strips accents, word by word; CJK from U+2B820 rather than U+2B920.
  kGoogle,
};

struct BertNormalizerOptions {
  bool lowercase = true;              // uncased models
  std::optional<bool> strip_accents;  // unset: follow lowercase (as both references do)
  bool clean_text = true;             // drop NUL, U+FFFD and control characters; whitespace becomes ' '
  bool handle_chinese_chars = true;   // every CJK ideograph is a word of its own
  BertStyle style = BertStyle::kHuggingFace;
};

// Normalised words stored back to back, so that callers on a hot path reuse two buffers instead of
// allocating a string per word: word i is chars[ends[i-1], ends[i]), with ends[-1] = 0.
struct WordList {
  std::string chars;
  std::vector<size_t> ends;

  size_t size() const { return ends.size(); }
  std::string_view operator[](size_t i) const {
    const size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(chars).substr(begin, ends[i] - begin);
  }
  void clear() {
    chars.clear();
    ends.clear();
  }
};

class BertPreTokenizer {
 public:
  explicit BertPreTokenizer(BertNormalizerOptions options);

  // Normalises text and splits it into words (whitespace-separated pieces, each punctuation character
  // and each CJK character its own word), appending them to words (cleared first). Any bytes are
  // accepted: a byte that is not valid UTF-8 behaves as U+FFFD does, so the result equals the
  // reference run on the text decoded with Python's errors="replace".
  void split(std::string_view text, std::vector<std::string>& words) const;
  void split(std::string_view text, WordList& words) const;

  const BertNormalizerOptions& options() const { return options_; }

 private:
  BertNormalizerOptions options_;
  bool strip_accents_;
  // What the pipeline does with each ASCII byte (see kAscii* in the .cpp), and its lowercased form:
  // most text is ASCII, and this keeps it away from utf8proc.
  uint8_t ascii_class_[128];
  char ascii_lower_[128];
};

}  // namespace lmpipe::text
