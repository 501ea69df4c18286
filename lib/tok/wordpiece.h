#pragma once
// WordPiece encoding: BERT's basic tokenizer (text/bert_pretokenizer.h) splits text into words, and
// each word becomes its greedy longest-match-first pieces from a vocab.txt vocabulary, non-initial
// pieces carrying the continuation prefix ("##"). A word that cannot be fully matched, or that is
// longer than max_input_chars_per_word characters, becomes a single [UNK] (never a partial one).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/bert_pretokenizer.h"
#include "tok/vocab.h"

namespace lmpipe::tok {

struct WordPieceOptions {
  text::BertNormalizerOptions normalizer;
  size_t max_input_chars_per_word = 100;  // HF; google-research/bert uses 200
  std::string unk_token = "[UNK]";
  std::string continuing_prefix = "##";
};

class WordPieceEncoder {
 public:
  // Throws lmpipe::Error if the vocabulary is not WordPiece or lacks unk_token. Keeps its own copy
  // of what it needs: vocab may go away afterwards.
  WordPieceEncoder(const Vocab& vocab, WordPieceOptions options);

  // Appends the ids of text (no [CLS]/[SEP]) to ids; "[SEP]" in text is text (Tokenizer matches special
  // tokens in raw text when asked, before any normalisation, as HF's added-token step does). const and safe to call from several threads at
  // once: the scratch buffers and the word cache are per thread.
  void encode(std::string_view text, std::vector<uint32_t>& ids) const;

  const WordPieceOptions& options() const { return options_; }
  uint32_t unk_id() const { return unk_id_; }

 private:
  // An open-addressing hash map from piece bytes to id, over its own copy of the keys: looking a
  // piece up takes a string_view, with no std::string built per candidate, and most pieces (up to
  // 8 bytes) compare within the slot, one cache line.
  class PieceMap {
   public:
    static constexpr uint32_t kNone = UINT32_MAX;
    void build(const std::vector<std::pair<std::string_view, uint32_t>>& entries);
    uint32_t find(std::string_view key, uint64_t hash) const;
    size_t max_key_size() const { return max_key_size_; }

   private:
    struct Slot {
      uint32_t id = kNone;
      uint32_t size = 0;
      uint64_t key = 0;  // up to 8 bytes: the key itself, zero-padded; longer: its offset in keys_
    };
    std::string keys_;
    std::vector<Slot> slots_;
    uint64_t mask_ = 0;
    size_t max_key_size_ = 0;
  };

  void encode_word(std::string_view word, std::vector<uint32_t>& ids) const;
  void match_pieces(std::string_view word, std::vector<uint32_t>& ids) const;

  WordPieceOptions options_;
  text::BertPreTokenizer pretokenizer_;
  PieceMap initial_;     // every token as written: candidates for a word's first piece
  PieceMap continuing_;  // tokens that start with the prefix, without it: the later pieces
  uint32_t unk_id_ = 0;
  uint64_t cache_owner_;  // tags this encoder's entries in the per-thread word cache
};

}  // namespace lmpipe::tok
