#include "io/shard_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "core/crc32c.h"
#include "core/error.h"

namespace lmpipe::io {

ShardFile::ShardFile(const std::string& path, const ReaderOptions& options) : path_(path) {
  fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.valid()) fail_errno(fmt::format("cannot open {}", path));
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(fmt::format("{}: random access needs a regular file (read a pipe as a stream instead)", path));
  size_ = uint64_t(st.st_size);
  if (size_ == 0) fail_at(path, 0, "empty input: expected an lmpipe shard");

  // Walk back from the end: each footer says how long its shard is.
  struct Shard {
    uint64_t start = 0;
    ShardHeader header;
    std::vector<BlockRef> blocks;
  };
  std::vector<Shard> shards;  // last shard first
  uint64_t end = size_;
  while (end > 0) {
    if (end < kHeaderPrefixSize + kEndPrefixSize + kFooterSize)
      fail_at(path, 0, "no end-of-shard index where one should end (the file is not whole shards)");
    uint8_t footer[kFooterSize];
    const uint64_t footer_at = end - kFooterSize;
    read_at(footer_at, footer, sizeof footer, "footer");
    if (std::memcmp(footer + 36, kFooterTag.data(), 4) != 0)
      fail_at(path, footer_at, "no end-of-shard index here (truncated, or written without one)");
    const uint64_t n_blocks = load_u64(footer), shard_size = load_u64(footer + 24);
    const uint64_t index_bytes = kEndPrefixSize + n_blocks * kIndexEntrySize;
    if (n_blocks > size_ / kIndexEntrySize || shard_size > end ||
        shard_size < kHeaderPrefixSize + index_bytes + kFooterSize)
      fail_at(path, footer_at, "end-of-shard footer sizes are impossible");
    const uint64_t start = end - shard_size, index_at = footer_at - index_bytes;
    std::vector<uint8_t> index(index_bytes + kFooterSize);
    read_at(index_at, index.data(), index.size(), "end-of-shard index");
    if (std::memcmp(index.data(), kEndTag.data(), 4) != 0 || load_u32(index.data() + 4) != 0 ||
        load_u64(index.data() + 8) != n_blocks)
      fail_at(path, index_at, "end-of-shard index does not start where its footer says");
    if (crc32c(index.data(), index.size() - 8) != load_u32(index.data() + index.size() - 8))
      fail_at(path, index_at, "end-of-shard index checksum mismatch");

    Shard shard;
    shard.start = start;
    uint64_t header_end = 0;
    uint8_t prefix[kHeaderPrefixSize];
    read_at(start, prefix, sizeof prefix, "shard header");
    try {
      const uint32_t json_size = parse_header_prefix(prefix, sizeof prefix);
      if (kHeaderPrefixSize + json_size + 4 > index_at - start)
        throw FormatError(12, "header JSON runs into the shard's index");
      std::vector<uint8_t> rest(size_t(json_size) + 4);
      read_at(start + kHeaderPrefixSize, rest.data(), rest.size(), "shard header");
      shard.header = parse_header_body(prefix, rest);
      header_end = start + kHeaderPrefixSize + rest.size();
      check_expectations(options, shard.header);
    } catch (const FormatError& e) {
      fail_at(path, start + e.relative_offset, e.what());
    } catch (const Error& e) {
      fail_at(path, start, e.what());
    }
    // Block offsets must rise through the space between the header and the index.
    uint64_t records = 0, tokens = 0, previous = 0;
    for (uint64_t i = 0; i < n_blocks; ++i) {
      const uint8_t* e = index.data() + kEndPrefixSize + i * kIndexEntrySize;
      BlockRef b{start + load_u64(e), load_u64(e + 8), load_u64(e + 16), 0, 0};
      // The first block starts right after the header; the others after it, in order, before the index.
      if ((i == 0 && b.offset != header_end) || b.offset + kBlockHeaderSize > index_at || (i > 0 && b.offset <= previous) ||
          b.records == 0)
        fail_at(path, index_at, fmt::format("end-of-shard index entry {} is impossible", i));
      previous = b.offset;
      records += b.records;
      tokens += b.tokens;
      shard.blocks.push_back(b);
    }
    if (n_blocks == 0 && index_at != header_end)
      fail_at(path, header_end, "bytes between the shard header and its index, which lists no blocks");
    if (records != load_u64(footer + 8) || tokens != load_u64(footer + 16))
      fail_at(path, footer_at, "end-of-shard totals do not match its index");
    shards.push_back(std::move(shard));
    end = start;
  }
  std::reverse(shards.begin(), shards.end());
  for (Shard& s : shards) {
    const ShardHeader& first = shards.front().header;
    if (s.header.kind != first.kind || s.header.vocab_size != first.vocab_size ||
        (!s.header.vocab_fingerprint.empty() && !first.vocab_fingerprint.empty() &&
         s.header.vocab_fingerprint != first.vocab_fingerprint))
      fail_at(path, s.start, "the file's shards differ in kind or vocabulary");
    for (BlockRef& b : s.blocks) {
      b.shard = uint32_t(headers_.size());
      b.first_record = records_;
      records_ += b.records;
      tokens_ += b.tokens;
      blocks_.push_back(b);
    }
    headers_.push_back(std::move(s.header));
  }
}


void ShardFile::read_at(uint64_t offset, void* dst, size_t size, const char* what) const {
  auto* p = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd_.get(), p + done, size - done, off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_errno(fmt::format("{}:{}: read failed", path_, offset));
    if (got == 0) fail_at(path_, offset, fmt::format("truncated shard: the file ends inside the {}", what));
    done += size_t(got);
  }
}

void ShardFile::read_block(size_t i, Block& out) {
  const BlockRef& ref = blocks_.at(i);
  const ShardHeader& sh = headers_[ref.shard];
  uint8_t head[kBlockHeaderSize];
  read_at(ref.offset, head, sizeof head, "block header");
  BlockHeader h;
  if (const char* problem = BlockHeader::decode(head, h)) fail_at(path_, ref.offset, problem);
  if (h.records != ref.records || h.tokens != ref.tokens)
    fail_at(path_, ref.offset, "block header does not match the end-of-shard index");
  frame_.resize(h.frame_size);
  read_at(ref.offset + kBlockHeaderSize, frame_.data(), frame_.size(), "block");
  out.first_record = ref.first_record;
  try {
    decoder_.decode(sh.kind, sh.dtype, sh.vocab_size, h, frame_, out);
  } catch (const Error& e) {
    fail_at(path_, ref.offset, fmt::format("block {}: {}", i, e.what()));
  }
}

}  // namespace lmpipe::io
