#pragma once
// tok-train's work: count the words of a corpus as the model's pre-tokenizer splits them, train BPE or
// WordPiece on the counts, and write the standard files (vocab.json + merges.txt, or vocab.txt) and a
// tokenizer.json that HuggingFace tokenizers loads.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/progress.h"
#include "core/string_map.h"

namespace lmpipe::tok {

enum class ModelKind { kBpe, kWordPiece };

struct TrainOptions {
  ModelKind model = ModelKind::kBpe;
  size_t vocab_size = 30000;
  uint64_t min_frequency = 2;
  // Unset: <|endoftext|> for BPE; for WordPiece BERT's layout, [PAD] 0, [unused0..98], [UNK] 100,
  // [CLS] 101, [SEP] 102, [MASK] 103. Set: ids 0..k-1 in this order.
  std::optional<std::vector<std::string>> special_tokens;
  bool lowercase = true;       // WordPiece: uncased
  size_t limit_alphabet = 0;   // 0: BPE none, WordPiece 1000 (HuggingFace's BertWordPieceTokenizer)
  int threads = 1;
  size_t chunk_bytes = 1 << 20;
  bool show_progress = false;
};

// The words of the inputs ("-": stdin) with 64-bit counts, one line at a time with its newline (as
// HuggingFace's trainer reads files). BPE words are GPT-2 pre-tokens in the byte-level alphabet;
// WordPiece words are BERT's normalised words.
StringMap<uint64_t> count_words(const std::vector<std::string>& inputs, const TrainOptions& options);

// Trains on the inputs and writes dir/vocab.json + dir/merges.txt (BPE) or dir/vocab.txt (WordPiece),
// and dir/tokenizer.json, each file atomically. Creates dir if needed.
void train_tokenizer(const std::vector<std::string>& inputs, const TrainOptions& options, const std::string& dir);

// tok-train --extend: writes the vocabulary VOCAB (as load_vocab takes it) with the special tokens
// appended after its last id, in the formats tok-train writes for its kind, into dir (whole or not at all).
// A token the vocabulary already has keeps its id and is not appended again. lowercase says how the
// tokenizer.json of a WordPiece vocabulary normalises. Returns how many tokens were appended.
size_t extend_vocabulary(const std::string& vocab, const std::vector<std::string>& specials, bool lowercase,
                         const std::string& dir);

}  // namespace lmpipe::tok
