#pragma once
// A tokenizer's vocabulary as files define it: byte-level BPE (vocab.json + merges.txt, GPT-2's
// encoder.json + vocab.bpe) or WordPiece (vocab.txt). Loading, the fingerprint that shard headers
// carry, and turning ids back into bytes.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <array>

#include "core/string_map.h"
#include <utility>
#include <vector>

namespace lmpipe::tok {

enum class VocabKind { kByteLevelBpe, kWordPiece };

struct Vocab {
  VocabKind kind = VocabKind::kByteLevelBpe;
  std::vector<std::string> tokens;                     // id -> token as the file writes it
  StringMap<uint32_t> ids;                             // token -> id
  std::vector<std::pair<std::string, std::string>> merges;  // BPE merges, by rank
  std::vector<std::array<uint32_t, 3>> merge_ids;      // the same as ids: left, right, merged
  std::string fingerprint;                             // "sha256:<hex>", see vocab_fingerprint()
  std::string source;                                  // the directory or file it came from

  uint32_t size() const { return uint32_t(tokens.size()); }
  // Special-token roles present in this vocabulary: "eot" (<|endoftext|>), "bos"/"eos"/"pad"/"unk"/"mask"
  // (RoBERTa's <s> </s> <pad> <unk> <mask>), "cls"/"sep"/"pad"/"unk"/"mask" (BERT's bracketed ones).
  std::map<std::string, uint32_t> special_ids() const;
  // Ids of the added tokens, which encoding text never produces: those HuggingFace's tokenizer.json lists
  // (the vocabulary's, or one beside its files, as tok-train writes); without one, for byte-level BPE
  // every token that is neither a byte's symbol nor a merge's result (<|endoftext|>, RoBERTa's <s> </s>
  // <pad> <unk> <mask>), for WordPiece the bracketed BERT specials above. These are what
  // --special-in-text recognises in text.
  std::vector<uint32_t> added_token_ids() const;
  // The bytes a token stands for: byte-level BPE tokens mapped back through GPT-2's byte alphabet
  // (special tokens stay as written); WordPiece tokens without their "##" continuation mark.
  std::string token_bytes(uint32_t id) const;
  // Text of a sequence of ids: byte-level BPE concatenates token bytes (so it is exact); WordPiece
  // joins tokens with spaces and glues "##" continuations to the previous token.
  std::string decode(std::span<const uint32_t> ids) const;
};

// Loads a vocabulary from a directory (vocab.json + merges.txt, encoder.json + vocab.bpe, or vocab.txt),
// from one of those files, or by name from the shipped share/vocab/NAME. Throws Error on missing,
// truncated or inconsistent files, naming the file and what is wrong.
Vocab load_vocab(const std::string& spec);

// sha256 over a canonical serialisation of kind, tokens (by id) and merges: two files that define the
// same vocabulary (whitespace, key order, file names aside) have the same fingerprint.
std::string vocab_fingerprint(const Vocab& vocab);

// GPT-2's reversible map from the 256 byte values to printable code points, and back.
const std::vector<uint32_t>& byte_to_codepoint();
int codepoint_to_byte(uint32_t codepoint);  // -1 if the code point is not in the alphabet

}  // namespace lmpipe::tok
