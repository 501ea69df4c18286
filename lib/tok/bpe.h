#pragma once
// Byte-level BPE encoding (GPT-2, RoBERTa): GPT-2's pre-tokenizer splits the text into pieces, and each
// piece's bytes are merged by rank. Ids equal tiktoken's and HuggingFace's for valid UTF-8, and any byte
// string encodes (decode(encode(x)) == x).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tok/vocab.h"

namespace lmpipe::tok {

// Hash and equality that let string-keyed maps be searched with a string_view, without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Piece -> ids memo for one thread. Text repeats its words, so most pieces are found here; the cache is
// emptied when it reaches its capacity, which bounds its memory.
class BpeCache {
 public:
  explicit BpeCache(size_t capacity = 1 << 16) : capacity_(capacity) {}
  const std::vector<uint32_t>* find(std::string_view piece) const;
  void insert(std::string_view piece, const uint32_t* ids, size_t count);

 private:
  size_t capacity_;
  StringMap<std::vector<uint32_t>> map_;
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
  void merge_short(std::vector<uint32_t>& symbols) const;
  void merge_long(std::vector<uint32_t>& symbols) const;

  uint32_t byte_ids_[256];
  std::vector<uint64_t> merge_keys_;  // kEmpty, or (left << 32 | right)
  std::vector<Merge> merge_values_;
  uint64_t merge_mask_ = 0;
  // Whole pieces that are tokens map straight to their id, as tiktoken does.
  StringMap<uint32_t> piece_ids_;
};

}  // namespace lmpipe::tok
