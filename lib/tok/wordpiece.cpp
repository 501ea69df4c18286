#include "tok/wordpiece.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::tok {
namespace {

// The bytes of a string of 1 to 8 bytes as one little-endian word, zero-padded. Whole-word loads
// rather than a byte loop: a loop of byte stores read back as one word stalls store forwarding.
uint64_t pack8(const char* p, size_t n) {
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);  // overlaps lo unless n == 8: shift the overlap out
    return lo | (uint64_t(hi) >> (8 * (8 - n)) << 32);
  }
  uint64_t v = uint8_t(p[0]);
  if (n > 1) v |= uint64_t(uint8_t(p[1])) << 8;
  if (n > 2) v |= uint64_t(uint8_t(p[2])) << 16;
  return v;
}

// A hash for short byte strings (words and pieces are mostly under 16 bytes): 8-byte words through a
// multiply-xorshift mix.
uint64_t hash_bytes(std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  const auto mix = [](uint64_t h) {
    h *= kMul;
    return h ^ (h >> 29);
  };
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = (n + 1) * kMul;
  for (; n > 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix(h ^ v);
  }
  if (n > 0) h = mix(h ^ pack8(p, n));
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

bool is_continuation_byte(char c) { return (uint8_t(c) & 0xC0) == 0x80; }

size_t count_chars(std::string_view s) {
  return size_t(std::count_if(s.begin(), s.end(), [](char c) { return !is_continuation_byte(c); }));
}

// --- the per-thread word cache ---------------------------------------------------------------------------
// Words the vocabulary does not hold whole take a dozen or more lookups to cut into pieces, and the
// same ones come back again and again. A direct-mapped table of short words and their ids, per
// thread (so encode() needs no lock), of fixed size (so memory is bounded and nothing is allocated
// per word). Entries carry the id of the encoder that made them: encoders never share results,
// and one that goes away leaves entries nobody matches, to be overwritten.
constexpr size_t kCacheSlots = 1 << 14;
constexpr size_t kCacheKeyBytes = 22;
constexpr size_t kCacheIds = 8;

struct CacheSlot {
  uint64_t owner = 0;  // 0: empty (encoder ids start at 1)
  uint8_t key_size = 0;
  uint8_t id_count = 0;
  char key[kCacheKeyBytes];
  uint32_t ids[kCacheIds];
};
static_assert(sizeof(CacheSlot) == 64);

CacheSlot* thread_cache() {
  thread_local std::unique_ptr<CacheSlot[]> cache;
  if (!cache) cache = std::make_unique<CacheSlot[]>(kCacheSlots);
  return cache.get();
}

std::atomic<uint64_t> next_encoder_id{1};

// Word buffers that one huge text grew beyond this are freed after it, not kept as long as the thread.
constexpr size_t kKeepWordBuffer = size_t(16) << 20;

}  // namespace

void WordPieceEncoder::PieceMap::build(const std::vector<std::pair<std::string_view, uint32_t>>& entries) {
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, entries.size() * 2));  // load at most 1/2
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  keys_.clear();
  max_key_size_ = 0;
  for (const auto& [key, id] : entries) {
    if (key.empty()) continue;  // a bare prefix ("##"): no piece is empty
    size_t i = hash_bytes(key) & mask_;
    while (slots_[i].id != kNone) i = (i + 1) & mask_;
    Slot& slot = slots_[i];
    slot.id = id;
    slot.size = uint32_t(key.size());
    if (key.size() <= 8) {
      slot.key = pack8(key.data(), key.size());
    } else {
      slot.key = keys_.size();
      keys_ += key;
    }
    max_key_size_ = std::max(max_key_size_, key.size());
  }
}

uint32_t WordPieceEncoder::PieceMap::find(std::string_view key, uint64_t hash) const {
  const bool short_key = key.size() <= 8;
  const uint64_t packed = short_key && !key.empty() ? pack8(key.data(), key.size()) : 0;
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id == kNone) return kNone;
    if (slot.size != key.size()) continue;
    if (short_key ? slot.key == packed : std::memcmp(keys_.data() + slot.key, key.data(), key.size()) == 0)
      return slot.id;
  }
}

WordPieceEncoder::WordPieceEncoder(const Vocab& vocab, WordPieceOptions options)
    : options_(std::move(options)), pretokenizer_(options_.normalizer), cache_owner_(next_encoder_id++) {
  if (vocab.kind != VocabKind::kWordPiece)
    throw Error(fmt::format("{}: not a WordPiece vocabulary (vocab.txt); WordPiece needs one", vocab.source));
  const auto unk = vocab.ids.find(options_.unk_token);
  if (unk == vocab.ids.end())
    throw Error(fmt::format("{}: the vocabulary has no unknown token {}", vocab.source, options_.unk_token));
  unk_id_ = unk->second;

  const std::string& prefix = options_.continuing_prefix;
  std::vector<std::pair<std::string_view, uint32_t>> initial, continuing;
  initial.reserve(vocab.tokens.size());
  for (uint32_t id = 0; id < vocab.size(); ++id) {
    const std::string_view token = vocab.tokens[id];
    initial.emplace_back(token, id);
    if (token.starts_with(prefix)) continuing.emplace_back(token.substr(prefix.size()), id);
  }
  initial_.build(initial);
  continuing_.build(continuing);
}

void WordPieceEncoder::encode(std::string_view text, std::vector<uint32_t>& ids) const {
  thread_local text::WordList words;
  pretokenizer_.split(text, words);
  for (size_t i = 0; i < words.size(); ++i) encode_word(words[i], ids);
  if (words.chars.capacity() > kKeepWordBuffer) words = text::WordList();
}

void WordPieceEncoder::encode_word(std::string_view word, std::vector<uint32_t>& ids) const {
  // Characters are at most bytes, so only long words need counting.
  if (word.size() > options_.max_input_chars_per_word && count_chars(word) > options_.max_input_chars_per_word) {
    ids.push_back(unk_id_);
    return;
  }
  const uint64_t hash = hash_bytes(word);
  // Most words are in the vocabulary whole; that is also what the greedy match would find first.
  if (word.size() <= initial_.max_key_size()) {
    const uint32_t id = initial_.find(word, hash);
    if (id != PieceMap::kNone) {
      ids.push_back(id);
      return;
    }
  }
  if (word.size() > kCacheKeyBytes) {
    match_pieces(word, ids);
    return;
  }
  CacheSlot& slot = thread_cache()[hash & (kCacheSlots - 1)];
  if (slot.owner == cache_owner_ && slot.key_size == word.size() &&
      std::memcmp(slot.key, word.data(), word.size()) == 0) {
    ids.insert(ids.end(), slot.ids, slot.ids + slot.id_count);
    return;
  }
  const size_t first = ids.size();
  match_pieces(word, ids);
  const size_t count = ids.size() - first;
  if (count <= kCacheIds) {
    slot.owner = cache_owner_;
    slot.key_size = uint8_t(word.size());
    slot.id_count = uint8_t(count);
    std::memcpy(slot.key, word.data(), word.size());
    std::copy(ids.begin() + ptrdiff_t(first), ids.end(), slot.ids);
  }
}

void WordPieceEncoder::match_pieces(std::string_view word, std::vector<uint32_t>& ids) const {
  const size_t first = ids.size();
  size_t start = 0;
  while (start < word.size()) {
    const PieceMap& map = start == 0 ? initial_ : continuing_;
    // Longest first, shrinking by whole characters; nothing longer than the longest key can match.
    size_t end = std::min(word.size(), start + map.max_key_size());
    uint32_t id = PieceMap::kNone;
    for (; end > start; --end) {
      if (end < word.size() && is_continuation_byte(word[end])) continue;
      const std::string_view piece = word.substr(start, end - start);
      id = map.find(piece, hash_bytes(piece));
      if (id != PieceMap::kNone) break;
    }
    if (id == PieceMap::kNone) {  // no piece fits here: the whole word is unknown
      ids.resize(first);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(id);
    start = end;
  }
}

}  // namespace lmpipe::tok
