#include "io/shard_writer.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/crc32c.h"
#include "core/error.h"

namespace lmpipe::io {

ShardWriter::ShardWriter(ByteSink& out, ShardHeader header, WriterOptions options)
    : out_(out), header_(std::move(header)), options_(options), builder_(header_.kind, header_.dtype) {
  if (header_.vocab_size == 0) throw Error("shard writer: the header has no vocabulary size");
  if (header_.dtype == TokenDtype::kU16 && header_.vocab_size > 65536)
    throw Error("shard writer: u16 ids cannot index a vocabulary of more than 65536");
  options_.block_target = std::min<size_t>(std::max<size_t>(options_.block_target, 1), kMaxPayload);
  // Documents are cut at the block target, so blocks stay near it and memory stays bounded by it.
  if (options_.doc_piece_bytes == 0) options_.doc_piece_bytes = options_.block_target;
  options_.doc_piece_bytes = std::clamp<size_t>(options_.doc_piece_bytes, 64, kMaxPayload);
  zstd_ = ZSTD_createCCtx();
  if (zstd_ == nullptr) throw std::bad_alloc();
  ZSTD_CCtx_setParameter(zstd_, ZSTD_c_compressionLevel, options_.zstd_level);
  ZSTD_CCtx_setParameter(zstd_, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(zstd_, ZSTD_c_contentSizeFlag, 1);

  const std::string json = header_.to_json();
  static_assert(kMaxHeaderJson % (1u << 20) == 0, "the message below states the limit in MiB");
  if (json.size() > kMaxHeaderJson)
    throw Error(fmt::format("shard writer: header JSON larger than {} MiB", kMaxHeaderJson >> 20));
  std::vector<uint8_t> head(kHeaderPrefixSize + json.size() + 4);
  std::memcpy(head.data(), kMagic.data(), kMagic.size());
  store_u32(head.data() + 8, kVersion);
  store_u32(head.data() + 12, uint32_t(json.size()));
  std::memcpy(head.data() + kHeaderPrefixSize, json.data(), json.size());
  store_u32(head.data() + kHeaderPrefixSize + json.size(), crc32c(head.data() + 8, 8 + json.size()));
  emit(head.data(), head.size());
}

ShardWriter::~ShardWriter() { ZSTD_freeCCtx(zstd_); }

void ShardWriter::emit(const void* data, size_t size) {
  out_.write(data, size);
  offset_ += size;
}

void ShardWriter::check(const RecordView& r) const {
  const auto fail = [&](const std::string& what) {
    throw Error(fmt::format("shard writer: record {}: {}", records_, what));
  };
  const RecordKind kind = header_.kind;
  const bool has_parts = kind == RecordKind::kDocs || kind == RecordKind::kChat || kind == RecordKind::kPrefs;
  if ((!has_parts && !r.sentence_lens.empty()) || (kind != RecordKind::kDocs && r.doc_flags != 0))
    fail(fmt::format("sentence fields in a {} shard", kind_name(kind)));
  const bool has_mask = kind == RecordKind::kChat || kind == RecordKind::kImages;
  if (!has_mask && !r.loss_mask.empty()) fail(fmt::format("a loss mask in a {} shard", kind_name(kind)));
  if (kind != RecordKind::kImages && (!r.pixels.empty() || r.image_height != 0 || r.image_width != 0))
    fail(fmt::format("an image in a {} shard", kind_name(kind)));
  if (kind != RecordKind::kMasked && (!r.positions.empty() || !r.labels.empty()))
    fail(fmt::format("masked positions in a {} shard", kind_name(kind)));
  if (kind != RecordKind::kPairs && kind != RecordKind::kMasked && (r.len_a != 0 || r.is_next != kNoLabel))
    fail(fmt::format("pair fields in a {} shard", kind_name(kind)));
  if (r.ids.size() > 0xFFFFFFFFull) fail("more than 2^32-1 ids");
  if (has_parts && !r.sentence_lens.empty()) {
    uint64_t sum = 0;
    for (uint32_t len : r.sentence_lens) sum += len;
    if (sum != r.ids.size())
      fail(fmt::format("{} lengths add up to {}, not {}",
                       kind == RecordKind::kDocs ? "sentence" : kind == RecordKind::kChat ? "conversation" : "part", sum,
                       r.ids.size()));
  }
  if (kind == RecordKind::kPrefs) {
    const size_t parts = r.sentence_lens.size();
    if (parts < 3 || parts % 2 == 0) fail(fmt::format("{} parts, not a prompt and pairs of completions", parts));
    for (size_t s = 1; s < parts; ++s)
      if (r.sentence_lens[s] == 0) fail(fmt::format("completion {} is empty", s));
    for (uint32_t len : r.sentence_lens)
      if (len > dtype_max_sentence(header_.dtype))
        fail(fmt::format("a part of {} ids is longer than a {} shard stores ({})", len, dtype_name(header_.dtype),
                         dtype_max_sentence(header_.dtype)));
  }
  if (has_mask) {
    if (r.loss_mask.size() != r.ids.size())
      fail(fmt::format("the loss mask has {} entries for {} ids", r.loss_mask.size(), r.ids.size()));
    for (uint8_t m : r.loss_mask)
      if (m > 1) fail(fmt::format("loss mask entry {} is not 0 or 1", m));
  }
  if (kind == RecordKind::kImages) {
    if (r.image_height == 0 || r.image_width == 0)
      fail(fmt::format("an image of {} x {} pixels", r.image_width, r.image_height));
    if (r.pixels.size() != 3 * uint64_t(r.image_height) * r.image_width)
      fail(fmt::format("{} pixel bytes for an RGB image of {} x {}", r.pixels.size(), r.image_width, r.image_height));
  }
  if (kind == RecordKind::kChat) {
    // Conversation lengths are stored in the token dtype.
    const uint64_t longest = r.sentence_lens.empty() ? r.ids.size()
                                                     : *std::max_element(r.sentence_lens.begin(), r.sentence_lens.end());
    if (longest > dtype_max_sentence(header_.dtype))
      fail(fmt::format("a conversation of {} ids is longer than a {} shard stores ({})", longest,
                       dtype_name(header_.dtype), dtype_max_sentence(header_.dtype)));
  }
  if (kind == RecordKind::kDocs) {
    if ((r.doc_flags & ~kKnownDocFlags) != 0 || ((r.doc_flags & kSentenceContinues) && !(r.doc_flags & kDocContinues)))
      fail(fmt::format("invalid document flags {:#x}", r.doc_flags));
  }
  if (r.len_a > r.ids.size()) fail(fmt::format("segment A length {} exceeds the record's {} ids", r.len_a, r.ids.size()));
  if (r.is_next != kNoLabel && r.is_next != 0 && r.is_next != 1) fail("is_next must be 0, 1 or none");
  if (r.positions.size() != r.labels.size()) fail("masked positions and labels differ in number");
  for (size_t i = 0; i < r.positions.size(); ++i) {
    if (r.positions[i] >= r.ids.size()) fail(fmt::format("masked position {} outside the record", r.positions[i]));
    if (i > 0 && r.positions[i] <= r.positions[i - 1]) fail("masked positions are not strictly ascending");
  }
}

void ShardWriter::write(const RecordView& r) {
  if (finished_) throw Error("shard writer: write after finish");
  check(r);
  if (header_.kind == RecordKind::kDocs) {
    const uint32_t longest = r.sentence_lens.empty() ? uint32_t(r.ids.size())
                                                     : *std::max_element(r.sentence_lens.begin(), r.sentence_lens.end());
    if (builder_.record_bytes(r) > options_.doc_piece_bytes || longest > dtype_max_sentence(header_.dtype)) {
      write_split_doc(r);
      return;
    }
  } else if (builder_.record_bytes(r) > kMaxPayload) {
    throw Error(fmt::format("shard writer: record {} of {} ids is too large for a block (at most {} bytes)", records_,
                            r.ids.size(), kMaxPayload));
  }
  add(r);
}

void ShardWriter::add(const RecordView& r) {
  const size_t bytes = builder_.record_bytes(r);
  if (builder_.records() > 0 && (builder_.payload_size() + bytes > options_.block_target ||
                                 builder_.payload_size() + bytes > kMaxPayload ||
                                 uint64_t(builder_.tokens()) + r.ids.size() > 0xFFFFFFFFull))
    flush_block();
  const uint32_t largest = builder_.add(r);
  if ((!r.ids.empty() || !r.labels.empty()) && largest >= header_.vocab_size)
    throw Error(fmt::format("shard writer: record {}: id {} is >= vocab size {}", records_, largest,
                            header_.vocab_size));
  ++records_;
  tokens_ += r.ids.size();
  if (builder_.payload_size() >= options_.block_target) flush_block();
}

// Cuts a document into records that each fit in a block and whose sentences fit the dtype, at sentence
// ends where possible.
void ShardWriter::write_split_doc(const RecordView& r) {
  const size_t d = dtype_bytes(header_.dtype);
  const size_t budget = options_.doc_piece_bytes;
  const size_t max_sentence = dtype_max_sentence(header_.dtype);
  const uint32_t whole = uint32_t(r.ids.size());
  const std::vector<uint32_t> lens =
      r.sentence_lens.empty() ? std::vector<uint32_t>{whole}
                              : std::vector<uint32_t>(r.sentence_lens.begin(), r.sentence_lens.end());
  std::vector<uint32_t> piece;  // sentence lengths of the piece being gathered
  size_t piece_begin = 0, piece_tokens = 0;
  const auto emit_piece = [&](uint8_t flags) {
    RecordView p;
    p.ids = r.ids.subspan(piece_begin, piece_tokens);
    p.sentence_lens = piece;
    p.doc_flags = flags;
    add(p);
    piece_begin += piece_tokens;
    piece_tokens = 0;
    piece.clear();
  };
  for (uint32_t len : lens) {
    size_t remaining = len;
    for (;;) {
      const size_t used = 9 + d * (piece.size() + 1 + piece_tokens);  // len, count, flags, lens, ids
      const size_t room = std::min(used < budget ? (budget - used) / d : 0, max_sentence);
      if (remaining <= room) {
        piece.push_back(uint32_t(remaining));
        piece_tokens += remaining;
        break;
      }
      if (!piece.empty()) {
        emit_piece(kDocContinues);  // end the piece at a sentence boundary first
        continue;
      }
      // The sentence alone does not fit: cut it (room >= 1 as doc_piece_bytes >= 64).
      piece.push_back(uint32_t(room));
      piece_tokens += room;
      remaining -= room;
      emit_piece(kDocContinues | kSentenceContinues);
    }
  }
  emit_piece(r.doc_flags);
}

void ShardWriter::flush_block() {
  if (builder_.records() == 0) return;
  builder_.assemble(payload_);
  frame_.resize(ZSTD_compressBound(payload_.size()));
  ZSTD_CCtx_setPledgedSrcSize(zstd_, payload_.size());
  const size_t frame_size = ZSTD_compress2(zstd_, frame_.data(), frame_.size(), payload_.data(), payload_.size());
  if (ZSTD_isError(frame_size)) throw Error(fmt::format("zstd compression failed: {}", ZSTD_getErrorName(frame_size)));

  BlockHeader h;
  h.records = builder_.records();
  h.items = builder_.items();
  h.tokens = builder_.tokens();
  h.payload_size = uint32_t(payload_.size());
  h.frame_size = uint32_t(frame_size);
  index_.push_back({offset_, h.records, h.tokens});
  const auto head = h.encode();
  emit(head.data(), head.size());
  emit(frame_.data(), frame_size);
  builder_.clear();
}

void ShardWriter::finish() {
  if (finished_) return;
  flush_block();
  finished_ = true;
  std::vector<uint8_t> end(kEndPrefixSize + kIndexEntrySize * index_.size() + kFooterSize);
  uint8_t* p = end.data();
  std::memcpy(p, kEndTag.data(), 4);
  store_u32(p + 4, 0);
  store_u64(p + 8, index_.size());
  p += kEndPrefixSize;
  for (const IndexEntry& e : index_) {
    store_u64(p, e.offset);
    store_u64(p + 8, e.records);
    store_u64(p + 16, e.tokens);
    p += kIndexEntrySize;
  }
  store_u64(p, index_.size());
  store_u64(p + 8, records_);
  store_u64(p + 16, tokens_);
  store_u64(p + 24, offset_ + end.size());
  store_u32(p + 32, crc32c(end.data(), size_t(p + 32 - end.data())));
  std::memcpy(p + 36, kFooterTag.data(), 4);
  emit(end.data(), end.size());
}

}  // namespace lmpipe::io
