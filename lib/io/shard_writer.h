#pragma once
// Writes one shard: the header at once, then records gathered into zstd-compressed blocks of a few MiB,
// then the end-of-shard index. Memory stays at about two blocks whatever the shard's size.
#include <cstdint>
#include <vector>

#include <zstd.h>

#include "core/output_file.h"
#include "io/shard_header.h"
#include "io/shard_record.h"

namespace lmpipe::io {

// zstd level for blocks: a fast negative level, so that writing docs and windows shards meets
// bench/shard_throughput.sh's target on one core; higher levels compress token ids better but write
// them much more slowly. A shard is written once per pipeline stage and read many times; readers are
// faster than writers at any level.
inline constexpr int kDefaultZstdLevel = -20;

struct WriterOptions {
  size_t block_target = kDefaultBlockTarget;  // payload bytes at which a block is closed
  size_t doc_piece_bytes = 0;                 // docs records larger than this are split; 0: block_target
  int zstd_level = kDefaultZstdLevel;
};

class ShardWriter {
 public:
  ShardWriter(ByteSink& out, ShardHeader header, WriterOptions options = {});
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Validates the record against the header (ids below vocab_size, fields that fit the kind) and
  // throws Error if it does not fit. Docs records too large for one block are split into pieces.
  void write(const RecordView& record);
  // Writes the last block and the end of the shard. Without it the shard reads as truncated.
  void finish();

  const ShardHeader& header() const { return header_; }
  uint64_t records() const { return records_; }
  uint64_t tokens() const { return tokens_; }
  uint64_t blocks() const { return index_.size(); }

 private:
  void check(const RecordView& r) const;
  void add(const RecordView& r);
  void write_split_doc(const RecordView& r);
  void flush_block();
  void emit(const void* data, size_t size);

  ByteSink& out_;
  ShardHeader header_;
  WriterOptions options_;
  BlockBuilder builder_;
  ZSTD_CCtx* zstd_ = nullptr;
  ByteBuffer payload_, frame_;
  std::vector<IndexEntry> index_;
  uint64_t offset_ = 0;  // bytes written since the shard's first magic byte
  uint64_t records_ = 0, tokens_ = 0;
  bool finished_ = false;
};

}  // namespace lmpipe::io
