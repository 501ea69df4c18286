#pragma once
// The BPE training engine shared by byte-level BPE and WordPiece (HuggingFace's WordPieceTrainer is
// this engine with a "##" continuation prefix). It takes counted words and returns the vocabulary and
// the merges, choosing at each step the most frequent adjacent pair (ties: the smaller pair of ids), as
// HuggingFace's BpeTrainer does, with 64-bit counts, incremental pair-count updates and a lazy heap.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/progress.h"
#include "core/string_map.h"

namespace lmpipe::tok {

struct BpeTrainerOptions {
  size_t vocab_size = 30000;       // specials, alphabet and merged tokens together
  uint64_t min_frequency = 2;      // a pair seen fewer times is not merged
  std::vector<std::string> special_tokens;  // ids 0..k-1, in this order (unless reserved_ids says otherwise)
  // Where each special token goes when the layout is fixed (BERT: [PAD] 0, [UNK] 100, ...); the gaps
  // are filled with these filler tokens ([unused0], ...). Empty: specials take 0..k-1.
  std::vector<uint32_t> special_ids;
  std::string filler_format;       // e.g. "[unused{}]"
  std::vector<std::string> initial_alphabet;  // symbols that are always in (byte-level: the 256 bytes)
  size_t limit_alphabet = 0;       // keep only this many most frequent symbols (0: all)
  std::string continuing_prefix;   // "##" for WordPiece: non-initial symbols carry it
};

struct TrainedBpe {
  std::vector<std::string> tokens;                           // by id
  std::vector<std::pair<std::string, std::string>> merges;  // by rank
};

// words: each word (a UTF-8 string whose characters are the initial symbols) with its count.
TrainedBpe train_bpe(const StringMap<uint64_t>& words, const BpeTrainerOptions& options, Progress& progress);

}  // namespace lmpipe::tok
