#include "tok/bpe.h"

#include <cstring>
#include <queue>

#include <fmt/format.h>

#include "core/error.h"
#include "text/gpt2_pretokenizer.h"
#include "text/unicode.h"

namespace lmpipe::tok {
namespace {

constexpr uint64_t kEmpty = ~uint64_t(0);
constexpr uint32_t kNoRank = ~uint32_t(0);
// Pieces up to this many bytes merge by rescanning (cheap for short words); longer ones use a heap.
constexpr size_t kShortPiece = 64;

uint64_t merge_key(uint32_t left, uint32_t right) { return uint64_t(left) << 32 | right; }

uint64_t hash_key(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return key;
}

template <typename Word>
Word load(const char* p) {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// The bytes of a piece of 1 to 16 bytes as two little-endian words, zero past its end: overlapping
// fixed-size loads instead of a copy of variable length, which costs a call per piece.
void load_key(std::string_view piece, uint64_t key[2]) {
  const char* p = piece.data();
  const size_t n = piece.size();
  if (n >= 8) {
    key[0] = load<uint64_t>(p);
    key[1] = n == 8 ? 0 : load<uint64_t>(p + n - 8) >> (8 * (16 - n));
  } else if (n >= 4) {
    key[0] = load<uint32_t>(p) | uint64_t(load<uint32_t>(p + n - 4)) >> (8 * (8 - n)) << 32;
    key[1] = 0;
  } else {
    key[0] = uint64_t(uint8_t(p[0])) | uint64_t(uint8_t(p[n / 2])) << (8 * (n / 2)) |
             uint64_t(uint8_t(p[n - 1])) << (8 * (n - 1));
    key[1] = 0;
  }
}

}  // namespace

BpeCache::BpeCache(unsigned slot_bits) : slots_(size_t(1) << slot_bits, Slot{}), shift_(64 - slot_bits) {}

size_t BpeCache::slot_of(std::string_view piece, uint64_t key[2]) const {
  load_key(piece, key);
  const uint64_t h = (key[0] ^ (key[1] * 0x9E3779B97F4A7C15ULL) ^ piece.size()) * 0xff51afd7ed558ccdULL;
  return size_t(h >> shift_);
}

bool BpeCache::find(std::string_view piece, std::vector<uint32_t>& ids) const {
  if (piece.size() > kMaxKey) {
    const auto it = long_.find(piece);
    if (it == long_.end()) return false;
    ids.insert(ids.end(), it->second.begin(), it->second.end());
    return true;
  }
  uint64_t key[2];
  const Slot& s = slots_[slot_of(piece, key)];
  if (s.len != piece.size() || s.key[0] != key[0] || s.key[1] != key[1]) return false;
  for (size_t i = 0; i < s.count; ++i) ids.push_back(s.ids[i]);
  return true;
}

void BpeCache::insert(std::string_view piece, const uint32_t* ids, size_t count) {
  if (piece.size() > kMaxKey || count > kMaxIds) {
    if (long_.size() >= kLongEntries) long_.clear();
    long_.emplace(std::string(piece), std::vector<uint32_t>(ids, ids + count));
    return;
  }
  uint64_t key[2];
  Slot& s = slots_[slot_of(piece, key)];
  s.key[0] = key[0];
  s.key[1] = key[1];
  std::memcpy(s.ids, ids, count * sizeof(uint32_t));
  s.len = uint8_t(piece.size());
  s.count = uint8_t(count);
}

BpeEncoder::BpeEncoder(const Vocab& vocab) {
  if (vocab.kind != VocabKind::kByteLevelBpe)
    throw Error(fmt::format("{}: not a byte-level BPE vocabulary", vocab.source));
  const auto& alphabet = byte_to_codepoint();
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    text::append_utf8(symbol, alphabet[size_t(b)]);
    const auto it = vocab.ids.find(symbol);
    if (it == vocab.ids.end())
      throw Error(fmt::format("{}: no token for byte {:#04x} ({}): not a byte-level vocabulary", vocab.source, b, symbol));
    byte_ids_[b] = it->second;
  }
  size_t capacity = 1024;
  while (capacity < vocab.merges.size() * 2) capacity *= 2;
  merge_keys_.assign(capacity, kEmpty);
  merge_values_.resize(capacity);
  merge_mask_ = capacity - 1;
  for (size_t rank = 0; rank < vocab.merge_ids.size(); ++rank) {
    const auto [left, right, merged] = vocab.merge_ids[rank];
    const uint64_t key = merge_key(left, right);
    uint64_t slot = hash_key(key) & merge_mask_;
    while (merge_keys_[slot] != kEmpty && merge_keys_[slot] != key) slot = (slot + 1) & merge_mask_;
    if (merge_keys_[slot] == key) continue;  // a repeated merge keeps its first (lowest) rank
    merge_keys_[slot] = key;
    merge_values_[slot] = {uint32_t(rank), merged};
  }
  piece_ids_.reserve(vocab.tokens.size());
  for (uint32_t id = 0; id < vocab.size(); ++id) piece_ids_.emplace(vocab.token_bytes(id), id);
}

const BpeEncoder::Merge* BpeEncoder::find_merge(uint32_t left, uint32_t right) const {
  const uint64_t key = merge_key(left, right);
  for (uint64_t slot = hash_key(key) & merge_mask_;; slot = (slot + 1) & merge_mask_) {
    if (merge_keys_[slot] == key) return &merge_values_[slot];
    if (merge_keys_[slot] == kEmpty) return nullptr;
  }
}

// Repeatedly merges the lowest-ranked adjacent pair (leftmost on ties). The ranks of the adjacent pairs
// sit in an array, so a merge costs a scan of it and two table lookups: fastest for short pieces.
size_t BpeEncoder::merge_short(uint32_t* symbols, size_t n) const {
  uint32_t rank[kShortPiece], merged[kShortPiece];
  const auto look = [&](size_t i) {
    const Merge* m = find_merge(symbols[i], symbols[i + 1]);
    rank[i] = m ? m->rank : kNoRank;
    merged[i] = m ? m->id : 0;
  };
  for (size_t i = 0; i + 1 < n; ++i) look(i);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i)
      if (rank[i] < rank[best]) best = i;
    if (rank[best] == kNoRank) break;
    symbols[best] = merged[best];
    for (size_t i = best + 1; i + 1 < n; ++i) {
      symbols[i] = symbols[i + 1];
      rank[i] = rank[i + 1];
      merged[i] = merged[i + 1];
    }
    --n;
    if (best > 0) look(best - 1);
    if (best + 1 < n) look(best);
  }
  return n;
}

// The same merges for long pieces in O(n log n): a linked list of symbols and a heap of candidate pairs
// keyed by (rank, position); entries made stale by an earlier merge are skipped when popped.
size_t BpeEncoder::merge_long(uint32_t* symbols, size_t n) const {
  std::vector<size_t> next(n), prev(n);  // n: none
  for (size_t i = 0; i < n; ++i) {
    next[i] = i + 1;
    prev[i] = i == 0 ? n : i - 1;
  }
  struct Candidate {
    uint32_t rank;
    size_t at;
    uint32_t left, right;  // the symbols the pair had when pushed
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : at > o.at; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push = [&](size_t at) {
    if (at >= n || next[at] >= n) return;
    if (const Merge* m = find_merge(symbols[at], symbols[next[at]])) heap.push({m->rank, at, symbols[at], symbols[next[at]]});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    // Stale: the left symbol was merged away (unlinked: next is n) or one of the pair's symbols changed.
    if (next[c.at] >= n || symbols[c.at] != c.left || symbols[next[c.at]] != c.right) continue;
    const size_t right = next[c.at];
    symbols[c.at] = find_merge(c.left, c.right)->id;
    next[c.at] = next[right];
    if (next[right] < n) prev[next[right]] = c.at;
    next[right] = n;  // unlinked
    prev[right] = n;
    if (prev[c.at] < n) push(prev[c.at]);  // the pair to the left changed its right symbol
    push(c.at);
  }
  size_t out = 0;
  for (size_t i = 0; i < n; i = next[i]) symbols[out++] = symbols[i];
  return out;
}

void BpeEncoder::encode_piece(std::string_view piece, std::vector<uint32_t>& ids) const {
  if (const auto it = piece_ids_.find(piece); it != piece_ids_.end()) {
    ids.push_back(it->second);
    return;
  }
  const size_t start = ids.size();
  for (unsigned char c : piece) ids.push_back(byte_ids_[c]);
  // Merge in place at the end of ids.
  const size_t merged = piece.size() <= kShortPiece ? merge_short(ids.data() + start, piece.size())
                                                    : merge_long(ids.data() + start, piece.size());
  ids.resize(start + merged);
}

void BpeEncoder::encode(std::string_view text, std::vector<uint32_t>& ids, BpeCache& cache) const {
  text::gpt2_split(text, [&](std::string_view piece) {
    if (piece.size() == 1) {  // a lone byte is always its own token
      ids.push_back(byte_ids_[uint8_t(piece[0])]);
      return;
    }
    if (cache.find(piece, ids)) return;
    const size_t start = ids.size();
    encode_piece(piece, ids);
    cache.insert(piece, ids.data() + start, ids.size() - start);
  });
}

}  // namespace lmpipe::tok
