#include "io/shard_reader.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/crc32c.h"
#include "core/error.h"

namespace lmpipe::io {
void check_expectations(const ReaderOptions& options, const ShardHeader& h) {
  if (!options.accept.empty() && std::find(options.accept.begin(), options.accept.end(), h.kind) == options.accept.end()) {
    std::string wanted;
    for (RecordKind k : options.accept) wanted += std::string(wanted.empty() ? "" : " or ") + std::string(kind_name(k));
    throw Error(fmt::format("this program reads {} shards, not {}", wanted, kind_name(h.kind)));
  }
  if (!options.vocab_fingerprint.empty() && !h.vocab_fingerprint.empty() && h.vocab_fingerprint != options.vocab_fingerprint)
    throw Error(fmt::format("the shard was made with vocabulary {}, not the one given ({})", h.vocab_fingerprint,
                            options.vocab_fingerprint));
  if (options.vocab_size && h.vocab_size != *options.vocab_size)
    throw Error(fmt::format("the shard's vocabulary has {} ids, the one given has {}", h.vocab_size, *options.vocab_size));
}

ShardReader::ShardReader(std::vector<std::string> paths, ReaderOptions options)
    : paths_(paths.empty() ? std::vector<std::string>{"-"} : std::move(paths)), options_(std::move(options)) {}

ShardReader::ShardReader(std::unique_ptr<InputStream> input, ReaderOptions options)
    : in_(std::move(input)), options_(std::move(options)) {}

ShardReader::~ShardReader() = default;

void ShardReader::fail(uint64_t offset, const std::string& what) const { fail_at(in_->name(), offset, what); }

void ShardReader::read_exact(void* dst, size_t size, uint64_t start, const char* what) {
  const size_t got = in_->read(dst, size);
  if (got == size) return;
  fail(start, fmt::format("truncated shard: the input ends inside {} ({} of {} bytes)", what, got, size));
}

bool ShardReader::open_next_input() {
  if (in_ == nullptr) {
    if (next_path_ >= paths_.size()) return false;
    in_ = InputStream::open(paths_[next_path_++]);
  }
  file_records_ = 0;
  if (in_->at_end()) fail(0, "empty input: expected an lmpipe shard");
  return true;
}

void ShardReader::read_shard_header() {
  shard_start_ = in_->offset();
  ShardHeader h;
  try {
    uint8_t prefix[kHeaderPrefixSize];
    const uint32_t json_size = parse_header_prefix(prefix, in_->read(prefix, sizeof prefix));
    ByteBuffer rest;
    if (in_->read_append(rest, size_t(json_size) + 4) != size_t(json_size) + 4)
      throw FormatError(0, fmt::format("truncated shard: the input ends inside the {}-byte header JSON", json_size));
    h = parse_header_body(prefix, rest);
  } catch (const FormatError& e) {
    fail(shard_start_ + e.relative_offset, e.what());
  }
  try {
    check_expectations(options_, h);
  } catch (const Error& e) {
    fail(shard_start_, e.what());
  }
  if (!headers_.empty()) {
    const ShardHeader& first = headers_.front();
    if (h.kind != first.kind)
      fail(shard_start_, fmt::format("a {} shard follows {} shards in the same stream", kind_name(h.kind),
                                     kind_name(first.kind)));
    if (h.vocab_size != first.vocab_size ||
        (!h.vocab_fingerprint.empty() && !first.vocab_fingerprint.empty() &&
         h.vocab_fingerprint != first.vocab_fingerprint))
      fail(shard_start_, "this shard uses a different vocabulary from the first shard of the stream");
  }
  headers_.push_back(std::move(h));
  ++totals_.shards;
  shard_blocks_.clear();
  shard_records_ = shard_tokens_ = 0;
}

bool ShardReader::read_block() {
  const uint64_t at = in_->offset();
  uint8_t head[kBlockHeaderSize];
  if (in_->read(head, 1) == 0)
    fail(at, fmt::format("truncated shard: the input ends after {} block(s) without the end-of-shard index "
                         "(did the program that wrote it stop early?)",
                         shard_blocks_.size()));
  const size_t got_head = 1 + in_->read(head + 1, kEndPrefixSize - 1);
  if (got_head >= 4 && std::memcmp(head, kEndTag.data(), 4) == 0) {
    if (got_head < kEndPrefixSize)
      fail(at, fmt::format("truncated shard: the input ends inside the end of the shard ({} of {} bytes)", got_head,
                           kEndPrefixSize));
    read_shard_end(head);
    return false;
  }
  const size_t got_rest = got_head < kEndPrefixSize ? 0 : in_->read(head + kEndPrefixSize, kBlockHeaderSize - kEndPrefixSize);
  if (got_head + got_rest < kBlockHeaderSize)
    fail(at, fmt::format("truncated shard: the input ends inside a block header ({} of {} bytes)", got_head + got_rest,
                         kBlockHeaderSize));
  BlockHeader h;
  if (const char* problem = BlockHeader::decode(head, h)) fail(at, problem);
  frame_.clear();
  const size_t got = in_->read_append(frame_, h.frame_size);
  if (got < h.frame_size)
    fail(at, fmt::format("truncated block: its frame has {} bytes, the input ends after {}", h.frame_size, got));

  const ShardHeader& sh = headers_.back();
  const size_t block_number = shard_blocks_.size();
  shard_blocks_.push_back({at - shard_start_, h.records, h.tokens});
  shard_records_ += h.records;
  shard_tokens_ += h.tokens;
  totals_.blocks++;
  totals_.records += h.records;
  totals_.tokens += h.tokens;
  totals_.items += h.items;
  totals_.payload_bytes += h.payload_size;
  if (!options_.decode) return true;

  block_.first_record = file_records_;
  try {
    decoder_.decode(sh.kind, sh.dtype, sh.vocab_size, h, frame_, block_);
  } catch (const Error& e) {
    fail(at, fmt::format("block {}: {}", block_number, e.what()));
  }
  file_records_ += h.records;
  return true;
}

void ShardReader::read_shard_end(const uint8_t* prefix) {
  const uint64_t at = in_->offset() - kEndPrefixSize;
  if (load_u32(prefix + 4) != 0) fail(at, "the end of the shard has a non-zero reserved field");
  const uint64_t blocks = load_u64(prefix + 8);
  if (blocks != shard_blocks_.size())
    fail(at, fmt::format("the end-of-shard index lists {} blocks, the shard has {}", blocks, shard_blocks_.size()));
  uint32_t crc = crc32c(prefix, kEndPrefixSize);
  uint8_t entry[kIndexEntrySize];
  for (uint64_t i = 0; i < blocks; ++i) {
    read_exact(entry, sizeof entry, at, "the end-of-shard index");
    crc = crc32c(entry, sizeof entry, crc);
    const IndexEntry& b = shard_blocks_[i];
    if (load_u64(entry) != b.offset || load_u64(entry + 8) != b.records || load_u64(entry + 16) != b.tokens)
      fail(at, fmt::format("the end-of-shard index entry for block {} does not match the block", i));
  }
  uint8_t footer[kFooterSize];
  read_exact(footer, sizeof footer, at, "the end-of-shard footer");
  crc = crc32c(footer, 32, crc);
  if (std::memcmp(footer + 36, kFooterTag.data(), 4) != 0) fail(at, "the end-of-shard footer does not end in LMIX");
  if (crc != load_u32(footer + 32)) fail(at, "end-of-shard index checksum mismatch");
  const uint64_t shard_size = in_->offset() - shard_start_;
  if (load_u64(footer) != blocks || load_u64(footer + 8) != shard_records_ || load_u64(footer + 16) != shard_tokens_ ||
      load_u64(footer + 24) != shard_size)
    fail(at, "the end-of-shard totals do not match the shard");
  totals_.stored_bytes += shard_size;
}

const ShardHeader& ShardReader::header() {
  while (headers_.empty() && state_ != State::kDone) {
    if (state_ == State::kOpenInput) {
      state_ = open_next_input() ? State::kShardHeader : State::kDone;
    } else {
      read_shard_header();
      state_ = State::kBlocks;
    }
  }
  if (headers_.empty()) throw Error("no shard in the input");
  return headers_.front();
}

const Block* ShardReader::next_block() {
  for (;;) {
    switch (state_) {
      case State::kDone:
        return nullptr;
      case State::kOpenInput:
        state_ = open_next_input() ? State::kShardHeader : State::kDone;
        break;
      case State::kShardHeader:
        read_shard_header();
        state_ = State::kBlocks;
        break;
      case State::kBlocks:
        if (read_block()) {
          if (options_.decode) return &block_;
          break;
        }
        if (in_->at_end()) {
          finished_inputs_bytes_ += in_->offset();
          in_.reset();
          state_ = State::kOpenInput;
        } else {
          state_ = State::kShardHeader;  // another shard follows in the same input
        }
        break;
    }
  }
}

bool ShardReader::next(RecordView& record) {
  while (!have_block_ || record_in_block_ >= block_.size()) {
    if (next_block() == nullptr) return false;
    have_block_ = true;
    record_in_block_ = 0;
  }
  record = block_.record(record_in_block_++);
  return true;
}

}  // namespace lmpipe::io
