#pragma once
// Records as programs see them, and a decoded block that owns the records' storage.
// Ids are always uint32_t in memory, whatever dtype the shard stores them in.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <zstd.h>

#include "core/byte_buffer.h"
#include "io/shard_format.h"

namespace lmpipe::io {

inline constexpr int8_t kNoLabel = -1;

// One record, borrowed from a Block (reading) or from the caller (writing). Which fields count
// depends on the shard's kind:
//   docs:    ids, sentence_lens (sum = ids.size(); empty when writing means one sentence), doc_flags
//   pairs:   ids = [CLS] A [SEP] B [SEP], len_a, is_next
//   windows: ids
//   masked:  ids (after masking), len_a, is_next, positions (ascending), labels (original ids there)
//   chat:    ids, loss_mask (one 0 or 1 per id: 1 on what the assistant says), sentence_lens = the
//            lengths of the conversations packed into the record (empty when writing means one)
//   prefs:   ids = a prompt, then the chosen and the rejected completion of each of its pairs;
//            sentence_lens = their lengths [prompt, chosen 1, rejected 1, chosen 2, ...] (see PrefsParts)
//   images:  ids (with the image placeholder), loss_mask (one 0 or 1 per id), and one RGB image:
//            image_height rows of image_width pixels, 3 bytes each (R, G, B), in pixels
struct RecordView {
  std::span<const uint32_t> ids;
  std::span<const uint32_t> sentence_lens;
  uint8_t doc_flags = 0;
  uint32_t len_a = 0;
  int8_t is_next = kNoLabel;  // 1: B follows A; 0: B is random; kNoLabel: none
  std::span<const uint32_t> positions;
  std::span<const uint32_t> labels;
  std::span<const uint8_t> loss_mask;
  std::span<const uint8_t> pixels;
  uint32_t image_height = 0, image_width = 0;
};

// The parts of a prefs record: the prompt's ids and each pair's chosen and rejected completion.
struct PrefsParts {
  std::span<const uint32_t> prompt;
  struct Pair {
    std::span<const uint32_t> chosen, rejected;
  };
  std::vector<Pair> pairs;
};
// Splits a prefs record (one the reader or writer has checked: 1 + 2k parts, k >= 1).
PrefsParts prefs_parts(const RecordView& r);

// A block's records, decoded. The vectors keep their capacity from block to block.
struct Block {
  RecordKind kind = RecordKind::kDocs;
  uint64_t first_record = 0;  // index of record 0 in its input file (ShardFile: in the file), for messages
  std::vector<uint32_t> tokens;
  std::vector<uint64_t> token_start;  // records + 1 offsets into tokens
  std::vector<uint32_t> sentence_lens;
  std::vector<uint64_t> sentence_start;  // docs, chat, prefs: records + 1 offsets into sentence_lens
  std::vector<uint8_t> doc_flags;
  std::vector<uint32_t> len_a;
  std::vector<int8_t> is_next;
  std::vector<uint32_t> positions, labels;
  std::vector<uint64_t> masked_start;  // masked: records + 1 offsets into positions/labels
  std::vector<uint8_t> loss_mask;      // chat, images: one per token
  std::vector<uint32_t> image_height, image_width;  // images: one per record
  std::vector<uint64_t> pixel_start;   // images: records + 1 offsets into pixels (in pixels, not bytes)
  std::vector<uint8_t> pixels;         // images: 3 bytes a pixel

  size_t size() const { return token_start.empty() ? 0 : token_start.size() - 1; }
  RecordView record(size_t i) const;
};

// Collects records column by column and lays them out as a block payload (see shard.5): the u32
// columns first, then the ones in the token dtype, then the byte ones, so every column is aligned.
// Sentence lengths are stored in the token dtype too: they are a docs block's largest metadata, and
// halving them in u16 shards keeps zstd's per-byte cost off the token rate. The writer splits longer
// sentences (dtype_max_sentence).
class BlockBuilder {
 public:
  BlockBuilder(RecordKind kind, TokenDtype dtype) : kind_(kind), dtype_(dtype) {}
  // Payload bytes the record adds. The caller has validated it.
  size_t record_bytes(const RecordView& r) const;
  // Appends the record; returns the largest id it holds (ids and labels), for the vocab check.
  uint32_t add(const RecordView& r);
  void assemble(ByteBuffer& payload) const;
  void clear();

  uint32_t records() const { return uint32_t(lens_.size()); }
  uint32_t items() const { return n_items_; }
  uint32_t tokens() const { return n_tokens_; }
  size_t payload_size() const { return payload_size_; }

 private:
  uint32_t append_ids(ByteBuffer& column, std::span<const uint32_t> ids);

  RecordKind kind_;
  TokenDtype dtype_;
  std::vector<uint32_t> lens_, n_sent_, len_a_, n_masked_, positions_, heights_, widths_;
  ByteBuffer sentence_len_bytes_, label_bytes_, token_bytes_;
  std::vector<uint8_t> flags_, is_next_, loss_mask_, pixels_;
  uint32_t n_items_ = 0, n_tokens_ = 0;
  size_t payload_size_ = 0;
};

// The longest sentence a docs record of this dtype can hold.
inline uint32_t dtype_max_sentence(TokenDtype dtype) { return dtype == TokenDtype::kU16 ? 0xFFFF : 0xFFFFFFFF; }

// Parses and validates a payload against its block header; fills block. Throws Error describing the
// first problem (the caller adds the file and offset). Never trusts a count before checking it against
// the payload's size.
void decode_payload(RecordKind kind, TokenDtype dtype, uint32_t vocab_size, const BlockHeader& header,
                    std::span<const uint8_t> payload, Block& block);

// Decompresses a block's zstd frame and decodes its payload; reused from block to block.
class BlockDecoder {
 public:
  BlockDecoder();
  ~BlockDecoder();
  BlockDecoder(const BlockDecoder&) = delete;
  BlockDecoder& operator=(const BlockDecoder&) = delete;
  // Throws Error saying what is wrong with the block (the caller adds where). block.first_record
  // must be set by the caller; it numbers the records in messages.
  void decode(RecordKind kind, TokenDtype dtype, uint32_t vocab_size, const BlockHeader& header,
              std::span<const uint8_t> frame, Block& block);

 private:
  ZSTD_DCtx* zstd_;
  ByteBuffer payload_;
};

}  // namespace lmpipe::io
