#pragma once
// Reads shards front to back from files, pipes or memory: no seeking, one block in memory at a time.
// Several inputs, and shards concatenated within one input, read as one stream of records. Every
// inconsistency is an Error "FILE:OFFSET: what", never a crash or an allocation the input did not pay for.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/input_file.h"
#include "io/shard_header.h"
#include "io/shard_record.h"

namespace lmpipe::io {

struct ReaderOptions {
  std::vector<RecordKind> accept;       // kinds the program can take; empty: any
  std::string vocab_fingerprint;        // the vocabulary the program was given; "": no check
  std::optional<uint32_t> vocab_size;   // likewise
  bool decode = true;                   // false: check block headers and skip the payloads
};

struct ReadTotals {
  uint64_t shards = 0, blocks = 0, records = 0, tokens = 0, items = 0;
  uint64_t stored_bytes = 0;   // bytes of input consumed
  uint64_t payload_bytes = 0;  // uncompressed block payloads
};

// Throws Error if a shard with this header is not what the program asked for.
void check_expectations(const ReaderOptions& options, const ShardHeader& header);

class ShardReader {
 public:
  // "-" is stdin; no paths at all means stdin.
  explicit ShardReader(std::vector<std::string> paths, ReaderOptions options = {});
  explicit ShardReader(std::unique_ptr<InputStream> input, ReaderOptions options = {});
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  // The first shard's header (reading it if no block was read yet).
  const ShardHeader& header();
  // The next block, or nullptr after the last shard of the last input. The block stays valid until
  // the next call.
  const Block* next_block();
  // Record by record over next_block(); the view stays valid until the block changes.
  bool next(RecordView& record);

  // Headers of every shard met so far, in stream order.
  const std::vector<ShardHeader>& headers() const { return headers_; }
  const ReadTotals& totals() const { return totals_; }
  // Input bytes read so far, over all inputs (for progress displays).
  uint64_t bytes_consumed() const { return finished_inputs_bytes_ + (in_ ? in_->offset() : 0); }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  enum class State { kOpenInput, kShardHeader, kBlocks, kDone };
  bool open_next_input();
  void read_shard_header();
  bool read_block();  // false when it read the end of the shard instead
  void read_shard_end(const uint8_t* prefix);
  void read_exact(void* dst, size_t size, uint64_t start, const char* what);
  [[noreturn]] void fail(uint64_t offset, const std::string& what) const;

  std::vector<std::string> paths_;
  size_t next_path_ = 0;
  uint64_t finished_inputs_bytes_ = 0;
  std::unique_ptr<InputStream> in_;
  ReaderOptions options_;
  State state_ = State::kOpenInput;
  std::vector<ShardHeader> headers_;
  ReadTotals totals_;

  // The shard being read.
  uint64_t shard_start_ = 0;
  std::vector<IndexEntry> shard_blocks_;
  uint64_t shard_records_ = 0, shard_tokens_ = 0;
  uint64_t file_records_ = 0;  // records read from the current input, for messages

  BlockDecoder decoder_;
  ByteBuffer frame_;
  Block block_;
  size_t record_in_block_ = 0;
  bool have_block_ = false;
};

}  // namespace lmpipe::io
