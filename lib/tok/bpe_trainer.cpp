#include "tok/bpe_trainer.h"

#include <algorithm>
#include <queue>
#include <unordered_map>

#include <fmt/format.h>

#include "core/error.h"
#include "text/unicode.h"

namespace lmpipe::tok {
namespace {

uint64_t pair_key(uint32_t left, uint32_t right) { return uint64_t(left) << 32 | right; }
uint32_t left_of(uint64_t key) { return uint32_t(key >> 32); }
uint32_t right_of(uint64_t key) { return uint32_t(key); }

// The characters of a UTF-8 word (invalid bytes, which words of this engine never hold, one each).
template <class F>
void for_each_char(std::string_view word, F&& fn) {
  const auto* p = reinterpret_cast<const uint8_t*>(word.data());
  for (size_t i = 0; i < word.size();) {
    const uint32_t len = text::decode_utf8(p + i, word.size() - i).len;
    fn(word.substr(i, len), i == 0);
    i += len;
  }
}

class Vocabulary {
 public:
  uint32_t add(const std::string& token) {
    const auto it = ids_.find(token);
    if (it != ids_.end()) return it->second;
    const auto id = uint32_t(tokens_.size());
    tokens_.push_back(token);
    ids_.emplace(token, id);
    return id;
  }
  const uint32_t* find(std::string_view token) const {
    const auto it = ids_.find(token);
    return it == ids_.end() ? nullptr : &it->second;
  }
  const std::string& operator[](uint32_t id) const { return tokens_[id]; }
  size_t size() const { return tokens_.size(); }
  std::vector<std::string> release() { return std::move(tokens_); }

 private:
  std::vector<std::string> tokens_;
  StringMap<uint32_t> ids_;
};

// Adjacent-pair statistics: the count over all words, and the words the pair was ever seen in (a word
// stays listed after it loses the pair; merging checks).
struct PairStats {
  int64_t count = 0;
  std::vector<uint32_t> words;
};

struct HeapEntry {
  uint64_t count;
  uint64_t key;
  // Max-heap order: the larger count first, then the smaller pair (left id, then right id).
  bool operator<(const HeapEntry& o) const { return count != o.count ? count < o.count : key > o.key; }
};

}  // namespace

TrainedBpe train_bpe(const StringMap<uint64_t>& words, const BpeTrainerOptions& o, Progress& progress) {
  Vocabulary vocab;
  // 1. Special tokens.
  if (o.special_ids.empty()) {
    for (const std::string& s : o.special_tokens) vocab.add(s);
  } else {
    if (o.special_ids.size() != o.special_tokens.size()) throw Error("special token ids do not match the tokens");
    const uint32_t slots = *std::max_element(o.special_ids.begin(), o.special_ids.end()) + 1;
    std::vector<std::string> layout(slots);
    for (size_t i = 0; i < o.special_ids.size(); ++i) layout[o.special_ids[i]] = o.special_tokens[i];
    size_t filler = 0;
    for (std::string& t : layout)
      if (t.empty()) t = fmt::format(fmt::runtime(o.filler_format), filler++);
    for (const std::string& t : layout) vocab.add(t);
  }

  // 2. The alphabet: every character of the words (weighted by word counts), the initial alphabet always,
  // the rarest dropped beyond limit_alphabet; in code point order (UTF-8 byte order is code point order).
  StringMap<uint64_t> char_counts;
  for (const auto& word : words)
    for_each_char(word.first, [&](std::string_view c, bool) {
      auto it = char_counts.find(c);
      if (it == char_counts.end()) it = char_counts.emplace(std::string(c), 0).first;
      it->second += word.second;
    });
  for (const std::string& c : o.initial_alphabet) char_counts[c] = UINT64_MAX;
  std::vector<std::pair<std::string, uint64_t>> alphabet(char_counts.begin(), char_counts.end());
  if (o.limit_alphabet > 0 && alphabet.size() > o.limit_alphabet) {
    std::sort(alphabet.begin(), alphabet.end(),
              [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
    alphabet.resize(o.limit_alphabet);
  }
  std::sort(alphabet.begin(), alphabet.end());
  StringMap<bool> in_alphabet;
  for (const auto& [c, count] : alphabet) {
    vocab.add(c);
    in_alphabet.emplace(c, true);
  }
  if (vocab.size() > o.vocab_size)
    throw Error(fmt::format("--vocab-size {} is smaller than the special tokens and the alphabet ({})", o.vocab_size,
                            vocab.size()));

  // 3. Words as symbol ids, in byte order of the word so the result does not depend on hashing.
  std::vector<const std::pair<const std::string, uint64_t>*> sorted;
  sorted.reserve(words.size());
  for (const auto& entry : words) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  if (!o.continuing_prefix.empty()) {
    // Continuation symbols ("##a") for every character seen after a word's start, in code point order.
    std::vector<std::string> continued;
    StringMap<bool> seen;
    for (const auto* entry : sorted)
      for_each_char(entry->first, [&](std::string_view c, bool first) {
        if (!first && in_alphabet.count(c) && seen.emplace(std::string(c), true).second) continued.emplace_back(c);
      });
    std::sort(continued.begin(), continued.end());
    for (const std::string& c : continued) vocab.add(o.continuing_prefix + c);
  }
  std::vector<uint32_t> symbols;
  std::vector<uint64_t> word_start{0};
  std::vector<uint32_t> word_len;
  std::vector<uint64_t> word_count;
  for (const auto* entry : sorted) {
    const uint64_t start = symbols.size();
    for_each_char(entry->first, [&](std::string_view c, bool first) {
      if (!in_alphabet.count(c)) return;  // dropped by limit_alphabet, as HuggingFace does
      const std::string symbol = first || o.continuing_prefix.empty() ? std::string(c) : o.continuing_prefix + std::string(c);
      symbols.push_back(*vocab.find(symbol));
    });
    word_len.push_back(uint32_t(symbols.size() - start));
    word_start.push_back(symbols.size());
    word_count.push_back(entry->second);
  }
  const size_t n_words = word_len.size();

  // 4. Pair statistics.
  std::unordered_map<uint64_t, PairStats> pairs;
  for (uint32_t w = 0; w < n_words; ++w) {
    const uint32_t* s = symbols.data() + word_start[w];
    for (uint32_t i = 0; i + 1 < word_len[w]; ++i) {
      PairStats& p = pairs[pair_key(s[i], s[i + 1])];
      p.count += int64_t(word_count[w]);
      if (p.words.empty() || p.words.back() != w) p.words.push_back(w);
    }
  }
  std::priority_queue<HeapEntry> heap;
  for (const auto& [key, p] : pairs)
    if (p.count > 0) heap.push({uint64_t(p.count), key});

  // 5. Merge until the vocabulary is full, no pair is left, or the best is too rare.
  std::vector<std::pair<uint32_t, uint32_t>> merges;
  std::vector<uint32_t> last_step(n_words, UINT32_MAX);
  std::vector<uint32_t> merged;                       // a word after the merge
  std::vector<std::pair<uint64_t, int64_t>> changes;  // pair, +-1 per occurrence, for one word
  std::unordered_map<uint64_t, int64_t> delta;        // pair, count change, for one merge
  std::vector<std::pair<uint64_t, uint32_t>> gained;  // pair, word: the word now holds the pair
  const size_t target = o.vocab_size;
  while (vocab.size() < target && !heap.empty()) {
    const HeapEntry top = heap.top();
    heap.pop();
    const auto found = pairs.find(top.key);
    const uint64_t current = uint64_t(std::max<int64_t>(found->second.count, 0));
    if (top.count != current) {
      if (current > 0) heap.push({current, top.key});  // stale: queue again with today's count
      continue;
    }
    if (current == 0 || current < o.min_frequency) break;
    const uint32_t a = left_of(top.key), b = right_of(top.key);
    std::string right = vocab[b];
    if (!o.continuing_prefix.empty() && right.starts_with(o.continuing_prefix)) right.erase(0, o.continuing_prefix.size());
    const uint32_t new_id = vocab.add(vocab[a] + right);
    const auto step = uint32_t(merges.size());
    merges.emplace_back(a, b);

    const std::vector<uint32_t> candidates = std::move(found->second.words);
    found->second.words.clear();
    delta.clear();
    gained.clear();
    for (uint32_t w : candidates) {
      if (last_step[w] == step) continue;
      last_step[w] = step;
      uint32_t* s = symbols.data() + word_start[w];
      const uint32_t len = word_len[w];
      merged.clear();
      for (uint32_t i = 0; i < len;) {
        if (i + 1 < len && s[i] == a && s[i + 1] == b) {
          merged.push_back(new_id);
          i += 2;
        } else {
          merged.push_back(s[i++]);
        }
      }
      if (merged.size() == len) continue;  // listed, but no longer holds the pair
      changes.clear();
      for (uint32_t i = 0; i + 1 < len; ++i) changes.emplace_back(pair_key(s[i], s[i + 1]), -1);
      for (size_t i = 0; i + 1 < merged.size(); ++i) changes.emplace_back(pair_key(merged[i], merged[i + 1]), +1);
      std::sort(changes.begin(), changes.end());
      const auto count = int64_t(word_count[w]);
      for (size_t i = 0; i < changes.size();) {
        int64_t net = 0;
        size_t j = i;
        for (; j < changes.size() && changes[j].first == changes[i].first; ++j) net += changes[j].second;
        if (net != 0) delta[changes[i].first] += net * count;
        if (net > 0) gained.emplace_back(changes[i].first, w);
        i = j;
      }
      std::copy(merged.begin(), merged.end(), s);
      word_len[w] = uint32_t(merged.size());
    }
    for (const auto& [key, change] : delta) pairs[key].count += change;
    for (const auto& [key, w] : gained) {
      PairStats& p = pairs[key];
      if (p.words.empty() || p.words.back() != w) p.words.push_back(w);
    }
    for (const auto& [key, change] : delta)
      if (change > 0) heap.push({uint64_t(pairs[key].count), key});
    progress.update(vocab.size());
  }

  TrainedBpe out;
  out.merges.reserve(merges.size());
  for (const auto& [a, b] : merges) out.merges.emplace_back(vocab[a], vocab[b]);
  out.tokens = vocab.release();
  return out;
}

}  // namespace lmpipe::tok
