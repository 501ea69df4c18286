#pragma once
// Random access to the blocks of a shard file through its end-of-shard indexes, for samplers that
// shuffle blocks and for splitting blocks across ranks. Works on regular files only; a stream without
// seeking reads through ShardReader instead. A file of concatenated shards is indexed shard by shard,
// stepping back from the last footer.
#include <cstdint>
#include <string>
#include <vector>

#include "core/unique_fd.h"

#include "io/shard_header.h"
#include "io/shard_reader.h"
#include "io/shard_record.h"

namespace lmpipe::io {

struct BlockRef {
  uint64_t offset = 0;        // of the block header in the file
  uint64_t records = 0, tokens = 0;
  uint64_t first_record = 0;  // in the file
  uint32_t shard = 0;         // index into headers()
};

class ShardFile {
 public:
  // Reads every shard header and index of the file; throws Error ("FILE:OFFSET: what") if they are
  // missing, inconsistent or not what options asks for.
  explicit ShardFile(const std::string& path, const ReaderOptions& options = {});
  ShardFile(const ShardFile&) = delete;
  ShardFile& operator=(const ShardFile&) = delete;

  const std::vector<ShardHeader>& headers() const { return headers_; }
  const std::vector<BlockRef>& blocks() const { return blocks_; }
  uint64_t records() const { return records_; }
  uint64_t tokens() const { return tokens_; }

  // Reads and decodes block i. One ShardFile serves one thread at a time.
  void read_block(size_t i, Block& out);

 private:
  void read_at(uint64_t offset, void* dst, size_t size, const char* what) const;

  std::string path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  std::vector<ShardHeader> headers_;
  std::vector<BlockRef> blocks_;
  uint64_t records_ = 0, tokens_ = 0;
  BlockDecoder decoder_;
  ByteBuffer frame_;
};

}  // namespace lmpipe::io
