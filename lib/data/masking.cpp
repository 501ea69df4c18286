#include "data/masking.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::data {

Masker::Masker(uint32_t vocab_size, uint32_t mask_id, std::vector<uint32_t> special_ids,
               std::vector<bool> continues_word, MaskOptions options)
    : vocab_size_(vocab_size), mask_id_(mask_id), options_(options) {
  if (vocab_size == 0) throw Error("masking: the vocabulary is empty");
  if (mask_id >= vocab_size) throw Error(fmt::format("masking: mask id {} is outside the vocabulary of {}", mask_id, vocab_size));
  if (!(options.mask_prob >= 0.0 && options.mask_prob <= 1.0))
    throw Error(fmt::format("masking: mask probability {} is not between 0 and 1", options.mask_prob));
  is_special_.assign(vocab_size, 0);
  for (uint32_t id : special_ids) {
    if (id >= vocab_size) throw Error(fmt::format("masking: special id {} is outside the vocabulary of {}", id, vocab_size));
    is_special_[id] = 1;
  }
  if (options.whole_word) {
    if (continues_word.size() != vocab_size)
      throw Error(fmt::format("masking: whole-word masking needs a word-continuation flag for each of the {} ids, "
                              "not {}",
                              vocab_size, continues_word.size()));
    continues_.assign(continues_word.begin(), continues_word.end());
  }
  if (options.random_pool == RandomPool::kNonSpecial) {
    for (uint32_t id = 0; id < vocab_size; ++id)
      if (!is_special_[id]) pool_.push_back(id);
    if (pool_.empty()) throw Error("masking: every id is special, so there is no random replacement to draw");
  }
}

size_t Masker::target_count(size_t len) const {
  // Python 3's round() rounds halves to even; nearbyint does under the default rounding mode.
  const auto rounded = size_t(std::nearbyint(double(len) * options_.mask_prob));
  const size_t n = std::max<size_t>(1, rounded);
  return options_.max_predictions == 0 ? n : std::min<size_t>(n, options_.max_predictions);
}

size_t Masker::group_length(std::span<const uint32_t> ids, size_t start) const {
  if (!options_.whole_word) return 1;
  size_t end = start + 1;
  while (end < ids.size() && !special(ids[end]) && continues(ids[end])) ++end;
  return end - start;
}

void Masker::replace(uint32_t& id, Rng& rng) const {
  if (rng.uniform() < 0.8) {
    id = mask_id_;
  } else if (rng.uniform() < 0.5) {
    // keep the original token
  } else if (pool_.empty()) {
    id = uint32_t(rng.below(vocab_size_));
  } else {
    id = pool_[rng.below(pool_.size())];
  }
}

void Masker::mask(std::span<const uint32_t> ids, Rng& rng, std::vector<uint32_t>& out_ids,
                  std::vector<uint32_t>& positions, std::vector<uint32_t>& labels) const {
  out_ids.assign(ids.begin(), ids.end());
  positions.clear();
  // The candidate groups, each by its first position, are kept in labels until the labels are filled in.
  std::vector<uint32_t>& starts = labels;
  starts.clear();
  if (options_.whole_word) {
    bool previous_candidate = false;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (special(ids[i])) {
        previous_candidate = false;
        continue;
      }
      if (!(previous_candidate && continues(ids[i]))) starts.push_back(uint32_t(i));
      previous_candidate = true;
    }
  } else {
    // Branch-free: write every position, advance past the non-special ones. Locals, so the stores
    // through out cannot make the compiler reload the table and the sizes.
    starts.resize(ids.size());
    uint32_t* out = starts.data();
    const uint8_t* table = is_special_.data();
    const uint32_t* in = ids.data();
    const size_t len = ids.size();
    const uint32_t vocab = vocab_size_;
    size_t count = 0;
    for (size_t i = 0; i < len; ++i) {
      const uint32_t id = in[i];
      out[count] = uint32_t(i);
      count += id >= vocab || table[id] == 0;
    }
    starts.resize(count);
  }

  // Groups are taken in the order of a Fisher-Yates shuffle, drawn only as far as it is needed.
  const size_t groups = starts.size();
  const auto take = [&](size_t g) {
    std::swap(starts[g], starts[g + size_t(rng.below(groups - g))]);
    return starts[g];
  };
  if (options_.probabilistic_count) {
    const size_t k = std::min(groups, size_t(options_.mask_prob * double(groups) + rng.uniform()));
    for (size_t g = 0; g < k; ++g) {
      const size_t start = take(g), length = group_length(ids, start);
      for (size_t p = start; p < start + length; ++p) {
        positions.push_back(uint32_t(p));
        replace(out_ids[p], rng);
      }
    }
  } else {
    const size_t n = target_count(ids.size());
    for (size_t g = 0; g < groups && positions.size() < n; ++g) {
      const size_t start = take(g), length = group_length(ids, start);
      if (positions.size() + length > n) continue;  // Google skips a group that does not fit and goes on
      for (size_t p = start; p < start + length; ++p) {
        positions.push_back(uint32_t(p));
        replace(out_ids[p], rng);
      }
    }
  }
  if (positions.size() <= 32) {  // the usual case (20 at most by default): insertion sort beats std::sort
    for (size_t i = 1; i < positions.size(); ++i) {
      const uint32_t p = positions[i];
      size_t j = i;
      for (; j > 0 && positions[j - 1] > p; --j) positions[j] = positions[j - 1];
      positions[j] = p;
    }
  } else {
    std::sort(positions.begin(), positions.end());
  }
  labels.resize(positions.size());
  for (size_t i = 0; i < positions.size(); ++i) labels[i] = ids[positions[i]];
}

std::vector<bool> word_continuations(const tok::Vocab& vocab) {
  std::vector<bool> out(vocab.size(), false);
  for (uint32_t id = 0; id < vocab.size(); ++id) {
    if (vocab.kind == tok::VocabKind::kWordPiece) {
      out[id] = vocab.tokens[id].starts_with("##");
    } else {
      const std::string bytes = vocab.token_bytes(id);
      out[id] = !bytes.empty() && bytes[0] != ' ';
    }
  }
  for (const auto& [role, id] : vocab.special_ids())
    if (id < out.size()) out[id] = false;
  return out;
}

std::vector<uint32_t> never_masked_ids(const std::map<std::string, uint32_t>& special_ids) {
  static const char* const kRoles[] = {"cls", "sep", "bos", "eos", "pad", "eot", "mask"};
  std::vector<uint32_t> out;
  for (const char* role : kRoles) {
    const auto it = special_ids.find(role);
    if (it != special_ids.end()) out.push_back(it->second);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace lmpipe::data
