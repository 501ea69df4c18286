#pragma once
// Masked-language-model masking of one sequence: google-research/bert's create_masked_lm_predictions
// (static masking, mask-corpus) and fairseq's MaskTokensDataset count rule (dynamic masking, which
// pretrain --arch roberta draws every time a sequence is fed). Independent of files: ids in, ids out.
//
// Google's rule (the default), exactly:
//   n = min(max_predictions, max(1, round_half_even(len * mask_prob))), len counting every token;
//   candidates = the non-special positions, grouped into whole words with whole_word (a continuation
//   token joins the previous position's group, never across a special token); groups shuffled and taken
//   in that order, skipping a group that would push the count past n (the loop goes on); each chosen
//   position draws on its own: < 0.8 -> the mask id, else < 0.5 -> unchanged, else a random id.
// probabilistic_count (fairseq): n = int(mask_prob * groups + U[0,1)) groups, no cap, all pieces taken.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/rng.h"
#include "tok/vocab.h"

namespace lmpipe::data {

enum class RandomPool {
  kAll,         // the whole vocabulary, special and [unused] tokens included (google-research/bert)
  kNonSpecial,  // every id not in special_ids (fairseq leaves out its special symbols)
};

struct MaskOptions {
  double mask_prob = 0.15;
  uint32_t max_predictions = 20;  // 0: no cap
  bool whole_word = false;
  RandomPool random_pool = RandomPool::kAll;
  bool probabilistic_count = false;  // fairseq/RoBERTa: n = int(mask_prob * candidates + U[0,1)), no cap
};

class Masker {
 public:
  // special: ids never masked (and left out of kNonSpecial); continues_word: per id, whether the token
  // continues the previous word (needed for whole_word; may be empty otherwise). Throws Error on options
  // that make no sense (mask_prob outside [0, 1], a mask id outside the vocabulary, ...).
  Masker(uint32_t vocab_size, uint32_t mask_id, std::vector<uint32_t> special_ids, std::vector<bool> continues_word,
         MaskOptions options);

  // Masks one sequence: out_ids = ids with the chosen positions replaced; positions ascending; labels =
  // the original ids there. Draws only from rng, so Rng(seed, {record}) makes a record's masking
  // independent of which thread does it. Ids >= vocab_size are treated as ordinary tokens. ids must not
  // point into the output vectors.
  void mask(std::span<const uint32_t> ids, Rng& rng, std::vector<uint32_t>& out_ids, std::vector<uint32_t>& positions,
            std::vector<uint32_t>& labels) const;

  // The number of positions Google's rule aims for in a sequence of len tokens (before candidates run out).
  size_t target_count(size_t len) const;

  const MaskOptions& options() const { return options_; }
  uint32_t mask_id() const { return mask_id_; }

 private:
  bool special(uint32_t id) const { return id < vocab_size_ && is_special_[id] != 0; }
  bool continues(uint32_t id) const { return id < continues_.size() && continues_[id] != 0; }
  // Positions in the group that starts at start: 1, or with whole_word also the continuation tokens after it.
  size_t group_length(std::span<const uint32_t> ids, size_t start) const;
  void replace(uint32_t& id, Rng& rng) const;

  uint32_t vocab_size_;
  uint32_t mask_id_;
  MaskOptions options_;
  std::vector<uint8_t> is_special_;  // per id
  std::vector<uint8_t> continues_;   // per id, whole_word only
  std::vector<uint32_t> pool_;       // kNonSpecial: the ids random replacements come from
};

// Which tokens continue a word: WordPiece tokens starting with "##"; byte-level BPE tokens whose bytes do
// not start with a space (fairseq's is_beginning_of_word, negated); special tokens never.
std::vector<bool> word_continuations(const tok::Vocab& vocab);

// The ids a shard header's special_ids map says are never masked: the roles cls, sep, bos, eos, pad, eot
// and mask (not unk: an unknown word is an ordinary token to predict, as in google-research/bert).
std::vector<uint32_t> never_masked_ids(const std::map<std::string, uint32_t>& special_ids);

}  // namespace lmpipe::data
