#pragma once
// Byte-level BPE encoding (GPT-2, RoBERTa): GPT-2's pre-tokenizer splits the text into pieces, and each
// piece's bytes are merged by rank. Ids equal tiktoken's and HuggingFace's for valid UTF-8, and any byte
// string encodes (decode(encode(x)) == x).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/string_map.h"
#include "tok/vocab.h"

namespace lmpipe::tok {

// Piece -> ids memo for one thread. Text repeats its words, so most pieces are found here. Direct-mapped
// (a colliding piece replaces the old one) with keys and ids stored inline: one cache line per lookup,
// a fixed 2.5 MiB, no allocation. Pieces longer than kMaxKey bytes or of more than kMaxIds ids (rare)
// go to a small map beside it.
class BpeCache {
 public:
  static constexpr size_t kMaxKey = 16, kMaxIds = 3, kLongEntries = 4096;
  explicit BpeCache(unsigned slot_bits = 16);
  // Appends the cached ids of piece to ids and returns true, or returns false.
  bool find(std::string_view piece, std::vector<uint32_t>& ids) const;
  void insert(std::string_view piece, const uint32_t* ids, size_t count);

 private:
  struct Slot {
    uint64_t key[2];
    uint32_t ids[kMaxIds];
    uint8_t len;  // 0: empty (pieces are never empty)
    uint8_t count;
  };
  // Key words and slot of a piece of at most kMaxKey bytes.
  size_t slot_of(std::string_view piece, uint64_t key[2]) const;

  std::vector<Slot> slots_;
  unsigned shift_;
  // Longer pieces (indentation, rules of ==== in markup) recur too: a small map, emptied when full.
  StringMap<std::vector<uint32_t>> long_;
};

class BpeEncoder {
 public:
  // Throws Error if the vocabulary is not byte-level BPE, lacks a byte's symbol, or a merge's parts or
  // result are not tokens.
  explicit BpeEncoder(const Vocab& vocab);

  // Appends the ids of text to ids. Thread-safe with one cache per thread.
  void encode(std::string_view text, std::vector<uint32_t>& ids, BpeCache& cache) const;
  // One pre-tokenized piece, without the cache.
  void encode_piece(std::string_view piece, std::vector<uint32_t>& ids) const;

 private:
  struct Merge {
    uint32_t rank;
    uint32_t id;
  };
  // (left id, right id) -> merge, open addressing: the merge loop's one lookup.
  const Merge* find_merge(uint32_t left, uint32_t right) const;
  // Merge symbols[0, n) in place; return how many remain.
  size_t merge_short(uint32_t* symbols, size_t n) const;
  size_t merge_long(uint32_t* symbols, size_t n) const;

  uint32_t byte_ids_[256];
  std::vector<uint64_t> merge_keys_;  // kEmpty, or (left << 32 | right)
  std::vector<Merge> merge_values_;
  uint64_t merge_mask_ = 0;
  // Whole pieces that are tokens map straight to their id, as tiktoken does.
  StringMap<uint32_t> piece_ids_;
};

}  // namespace lmpipe::tok
