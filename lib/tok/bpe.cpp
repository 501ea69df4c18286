#include "tok/bpe.h"

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

uint64_t pair_key(uint32_t left, uint32_t right) { return uint64_t(left) << 32 | right; }

uint64_t hash_key(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return key;
}

}  // namespace

const std::vector<uint32_t>* BpeCache::find(std::string_view piece) const {
  const auto it = map_.find(piece);
  return it == map_.end() ? nullptr : &it->second;
}

void BpeCache::insert(std::string_view piece, const uint32_t* ids, size_t count) {
  if (map_.size() >= capacity_) map_.clear();
  map_.emplace(std::string(piece), std::vector<uint32_t>(ids, ids + count));
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
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const auto& [a, b] = vocab.merges[rank];
    const uint32_t left = vocab.ids.at(a), right = vocab.ids.at(b), merged = vocab.ids.at(a + b);  // checked by load_vocab
    const uint64_t key = pair_key(left, right);
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
  const uint64_t key = pair_key(left, right);
  for (uint64_t slot = hash_key(key) & merge_mask_;; slot = (slot + 1) & merge_mask_) {
    if (merge_keys_[slot] == key) return &merge_values_[slot];
    if (merge_keys_[slot] == kEmpty) return nullptr;
  }
}

// Repeatedly merges the lowest-ranked adjacent pair (leftmost on ties): O(n^2), fastest for short pieces.
void BpeEncoder::merge_short(std::vector<uint32_t>& symbols) const {
  while (symbols.size() > 1) {
    uint32_t best_rank = kNoRank, best_id = 0;
    size_t best_at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const Merge* m = find_merge(symbols[i], symbols[i + 1]);
      if (m != nullptr && m->rank < best_rank) {
        best_rank = m->rank;
        best_id = m->id;
        best_at = i;
      }
    }
    if (best_rank == kNoRank) return;
    symbols[best_at] = best_id;
    symbols.erase(symbols.begin() + long(best_at) + 1);
  }
}

// The same merges for long pieces in O(n log n): a linked list of symbols and a heap of candidate pairs
// keyed by (rank, position); entries made stale by an earlier merge are skipped when popped.
void BpeEncoder::merge_long(std::vector<uint32_t>& symbols) const {
  const size_t n = symbols.size();
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
  symbols.resize(out);
}

void BpeEncoder::encode_piece(std::string_view piece, std::vector<uint32_t>& ids) const {
  if (const auto it = piece_ids_.find(piece); it != piece_ids_.end()) {
    ids.push_back(it->second);
    return;
  }
  std::vector<uint32_t> symbols(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) symbols[i] = byte_ids_[uint8_t(piece[i])];
  if (symbols.size() <= kShortPiece) merge_short(symbols);
  else merge_long(symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
}

void BpeEncoder::encode(std::string_view text, std::vector<uint32_t>& ids, BpeCache& cache) const {
  text::gpt2_split(text, [&](std::string_view piece) {
    if (const std::vector<uint32_t>* hit = cache.find(piece)) {
      ids.insert(ids.end(), hit->begin(), hit->end());
      return;
    }
    const size_t start = ids.size();
    encode_piece(piece, ids);
    cache.insert(piece, ids.data() + start, ids.size() - start);
  });
}

}  // namespace lmpipe::tok
