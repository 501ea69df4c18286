// Block payloads: laying records out as columns (BlockBuilder) and reading them back (decode_payload).
#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "io/shard_record.h"

namespace lmpipe::io {
namespace {

// Narrow or copy ids into a byte column of the given dtype; returns the largest id.
template <class T>
uint32_t append_as(ByteBuffer& column, std::span<const uint32_t> ids) {
  const size_t old = column.size();
  column.resize(old + ids.size() * sizeof(T));
  uint8_t* dst = column.data() + old;
  uint32_t largest = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const T v = T(ids[i]);
    std::memcpy(dst + i * sizeof(T), &v, sizeof(T));
    largest = std::max(largest, ids[i]);
  }
  return largest;
}

// Widen a token column into dst; returns the largest id.
template <class T>
uint32_t widen(const uint8_t* src, size_t n, uint32_t* dst) {
  uint32_t largest = 0;
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    dst[i] = v;
    largest = std::max<uint32_t>(largest, v);
  }
  return largest;
}

void append_u32(ByteBuffer& payload, const std::vector<uint32_t>& column) {
  const auto* p = reinterpret_cast<const uint8_t*>(column.data());
  payload.insert(payload.end(), p, p + column.size() * 4);
}

// Reads fixed-size columns from the payload front to back.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  const uint8_t* take(uint64_t size) {
    const uint8_t* p = bytes_.data() + pos_;
    pos_ += size;
    return p;
  }
  void u32(uint64_t n, std::vector<uint32_t>& out) {
    out.resize(n);
    const uint8_t* src = take(n * 4);
    if (n > 0) std::memcpy(out.data(), src, n * 4);  // an empty vector's data() may be null
  }

 private:
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

// Widens a dtype column that holds lengths, not ids (no vocabulary check).
void widen_column(Cursor& cur, TokenDtype dtype, uint64_t n, std::vector<uint32_t>& out) {
  out.resize(n);
  const uint8_t* src = cur.take(n * dtype_bytes(dtype));
  if (dtype == TokenDtype::kU16) widen<uint16_t>(src, n, out.data());
  else widen<uint32_t>(src, n, out.data());
}

// Widens n ids from the cursor into out, failing on an id outside the vocabulary. starts maps records
// to their first id in out, to name the record in the message.
void read_ids(Cursor& cur, TokenDtype dtype, uint64_t n, uint32_t vocab_size, std::vector<uint32_t>& out,
              const std::vector<uint64_t>& starts, uint64_t first_record, const char* what) {
  out.resize(n);
  const uint8_t* src = cur.take(n * dtype_bytes(dtype));
  const uint32_t largest = dtype == TokenDtype::kU16 ? widen<uint16_t>(src, n, out.data())
                                                     : widen<uint32_t>(src, n, out.data());
  if (n > 0 && largest >= vocab_size) {
    const auto bad = std::find_if(out.begin(), out.end(), [&](uint32_t id) { return id >= vocab_size; });
    const uint64_t at = uint64_t(bad - out.begin());
    const uint64_t record = uint64_t(std::upper_bound(starts.begin(), starts.end(), at) - starts.begin()) - 1;
    throw Error(fmt::format("record {}: {} {} is >= vocab size {}", first_record + record, what, *bad, vocab_size));
  }
}

// Turns per-record counts into offsets, checking that they add up to the declared total.
void prefix_offsets(const std::vector<uint32_t>& counts, uint64_t total, std::vector<uint64_t>& start,
                    const char* what) {
  start.resize(counts.size() + 1);
  uint64_t sum = 0;
  start[0] = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    sum += counts[i];
    start[i + 1] = sum;
  }
  if (sum != total)
    throw Error(fmt::format("records overrun their block: their {} add up to {}, the block header says {}", what,
                            sum, total));
}

}  // namespace

PrefsParts prefs_parts(const RecordView& r) {
  PrefsParts parts;
  size_t at = r.sentence_lens[0];
  parts.prompt = r.ids.first(at);
  for (size_t s = 1; s + 1 < r.sentence_lens.size(); s += 2) {
    const size_t chosen = r.sentence_lens[s], rejected = r.sentence_lens[s + 1];
    parts.pairs.push_back({r.ids.subspan(at, chosen), r.ids.subspan(at + chosen, rejected)});
    at += chosen + rejected;
  }
  return parts;
}

RecordView Block::record(size_t i) const {
  RecordView r;
  r.ids = std::span<const uint32_t>(tokens).subspan(token_start[i], token_start[i + 1] - token_start[i]);
  switch (kind) {
    case RecordKind::kDocs:
      r.sentence_lens = std::span<const uint32_t>(sentence_lens)
                            .subspan(sentence_start[i], sentence_start[i + 1] - sentence_start[i]);
      r.doc_flags = doc_flags[i];
      break;
    case RecordKind::kMasked:
      r.positions =
          std::span<const uint32_t>(positions).subspan(masked_start[i], masked_start[i + 1] - masked_start[i]);
      r.labels = std::span<const uint32_t>(labels).subspan(masked_start[i], masked_start[i + 1] - masked_start[i]);
      [[fallthrough]];
    case RecordKind::kPairs:
      r.len_a = len_a[i];
      r.is_next = is_next[i];
      break;
    case RecordKind::kPrefs:
    case RecordKind::kChat:
      r.sentence_lens = std::span<const uint32_t>(sentence_lens)
                            .subspan(sentence_start[i], sentence_start[i + 1] - sentence_start[i]);
      if (kind == RecordKind::kPrefs) break;
      r.loss_mask = std::span<const uint8_t>(loss_mask).subspan(token_start[i], token_start[i + 1] - token_start[i]);
      break;
    case RecordKind::kImages:
      r.loss_mask = std::span<const uint8_t>(loss_mask).subspan(token_start[i], token_start[i + 1] - token_start[i]);
      r.image_height = image_height[i];
      r.image_width = image_width[i];
      r.pixels = std::span<const uint8_t>(pixels).subspan(3 * pixel_start[i], 3 * (pixel_start[i + 1] - pixel_start[i]));
      break;
    case RecordKind::kWindows:
      break;
  }
  return r;
}

size_t BlockBuilder::record_bytes(const RecordView& r) const {
  const size_t d = dtype_bytes(dtype_);
  size_t bytes = 4 + d * r.ids.size();
  switch (kind_) {
    case RecordKind::kDocs: {
      const size_t sentences = r.sentence_lens.empty() ? (r.ids.empty() ? 0 : 1) : r.sentence_lens.size();
      bytes += 4 + d * sentences + 1;
      break;
    }
    case RecordKind::kChat: {
      const size_t conversations = r.sentence_lens.empty() ? (r.ids.empty() ? 0 : 1) : r.sentence_lens.size();
      bytes += 4 + d * conversations + r.ids.size();
      break;
    }
    case RecordKind::kPrefs: bytes += 4 + d * r.sentence_lens.size(); break;
    case RecordKind::kPairs: bytes += 4 + 1; break;
    case RecordKind::kMasked: bytes += 4 + 1 + 4 + (4 + d) * r.positions.size(); break;
    case RecordKind::kImages: bytes += 4 + 4 + r.ids.size() + r.pixels.size(); break;
    case RecordKind::kWindows: break;
  }
  return bytes;
}

uint32_t BlockBuilder::append_ids(ByteBuffer& column, std::span<const uint32_t> ids) {
  return dtype_ == TokenDtype::kU16 ? append_as<uint16_t>(column, ids) : append_as<uint32_t>(column, ids);
}

uint32_t BlockBuilder::add(const RecordView& r) {
  payload_size_ += record_bytes(r);
  lens_.push_back(uint32_t(r.ids.size()));
  n_tokens_ += uint32_t(r.ids.size());
  uint32_t largest = append_ids(token_bytes_, r.ids);
  switch (kind_) {
    case RecordKind::kChat:
      loss_mask_.insert(loss_mask_.end(), r.loss_mask.begin(), r.loss_mask.end());
      [[fallthrough]];
    case RecordKind::kPrefs:
    case RecordKind::kDocs:
      if (r.sentence_lens.empty()) {
        n_sent_.push_back(r.ids.empty() ? 0 : 1);
        if (!r.ids.empty()) {
          const uint32_t whole = uint32_t(r.ids.size());
          append_ids(sentence_len_bytes_, std::span<const uint32_t>(&whole, 1));
        }
      } else {
        n_sent_.push_back(uint32_t(r.sentence_lens.size()));
        append_ids(sentence_len_bytes_, r.sentence_lens);
      }
      n_items_ += n_sent_.back();
      if (kind_ == RecordKind::kDocs) flags_.push_back(r.doc_flags);
      break;
    case RecordKind::kMasked:
      n_masked_.push_back(uint32_t(r.positions.size()));
      positions_.insert(positions_.end(), r.positions.begin(), r.positions.end());
      largest = std::max(largest, append_ids(label_bytes_, r.labels));
      n_items_ += uint32_t(r.positions.size());
      [[fallthrough]];
    case RecordKind::kPairs:
      len_a_.push_back(r.len_a);
      is_next_.push_back(r.is_next == kNoLabel ? kNoLabelByte : uint8_t(r.is_next));
      break;
    case RecordKind::kImages:
      loss_mask_.insert(loss_mask_.end(), r.loss_mask.begin(), r.loss_mask.end());
      heights_.push_back(r.image_height);
      widths_.push_back(r.image_width);
      pixels_.insert(pixels_.end(), r.pixels.begin(), r.pixels.end());
      n_items_ += r.image_height * r.image_width;
      break;
    case RecordKind::kWindows:
      break;
  }
  return largest;
}

void BlockBuilder::assemble(ByteBuffer& payload) const {
  payload.clear();
  payload.reserve(payload_size_);
  append_u32(payload, lens_);
  switch (kind_) {
    case RecordKind::kDocs:
      append_u32(payload, n_sent_);
      payload.insert(payload.end(), sentence_len_bytes_.begin(), sentence_len_bytes_.end());
      payload.insert(payload.end(), token_bytes_.begin(), token_bytes_.end());
      payload.insert(payload.end(), flags_.begin(), flags_.end());
      break;
    case RecordKind::kPairs:
      append_u32(payload, len_a_);
      payload.insert(payload.end(), token_bytes_.begin(), token_bytes_.end());
      payload.insert(payload.end(), is_next_.begin(), is_next_.end());
      break;
    case RecordKind::kChat:
    case RecordKind::kPrefs:
      append_u32(payload, n_sent_);
      payload.insert(payload.end(), sentence_len_bytes_.begin(), sentence_len_bytes_.end());
      payload.insert(payload.end(), token_bytes_.begin(), token_bytes_.end());
      payload.insert(payload.end(), loss_mask_.begin(), loss_mask_.end());  // empty but in chat blocks
      break;
    case RecordKind::kWindows:
      payload.insert(payload.end(), token_bytes_.begin(), token_bytes_.end());
      break;
    case RecordKind::kImages:
      append_u32(payload, heights_);
      append_u32(payload, widths_);
      payload.insert(payload.end(), token_bytes_.begin(), token_bytes_.end());
      payload.insert(payload.end(), loss_mask_.begin(), loss_mask_.end());
      payload.insert(payload.end(), pixels_.begin(), pixels_.end());
      break;
    case RecordKind::kMasked:
      append_u32(payload, len_a_);
      append_u32(payload, n_masked_);
      append_u32(payload, positions_);
      payload.insert(payload.end(), label_bytes_.begin(), label_bytes_.end());
      payload.insert(payload.end(), token_bytes_.begin(), token_bytes_.end());
      payload.insert(payload.end(), is_next_.begin(), is_next_.end());
      break;
  }
}

void BlockBuilder::clear() {
  for (auto* v : {&lens_, &n_sent_, &len_a_, &n_masked_, &positions_, &heights_, &widths_}) v->clear();
  sentence_len_bytes_.clear();
  label_bytes_.clear();
  token_bytes_.clear();
  flags_.clear();
  is_next_.clear();
  loss_mask_.clear();
  pixels_.clear();
  n_items_ = n_tokens_ = 0;
  payload_size_ = 0;
}

void decode_payload(RecordKind kind, TokenDtype dtype, uint32_t vocab_size, const BlockHeader& h,
                    std::span<const uint8_t> payload, Block& block) {
  const uint64_t n = h.records, items = h.items, tokens = h.tokens, d = dtype_bytes(dtype);
  uint64_t expected = 4 * n + d * tokens;
  switch (kind) {
    case RecordKind::kDocs: expected += 4 * n + d * items + n; break;
    case RecordKind::kPairs: expected += 4 * n + n; break;
    case RecordKind::kWindows: break;
    case RecordKind::kMasked: expected += 4 * n + 4 * n + (4 + d) * items + n; break;
    case RecordKind::kChat: expected += 4 * n + d * items + tokens; break;
    case RecordKind::kPrefs: expected += 4 * n + d * items; break;
    case RecordKind::kImages: expected += 8 * n + tokens + 3 * items; break;
  }
  if (items != 0 && (kind == RecordKind::kPairs || kind == RecordKind::kWindows))
    throw Error(fmt::format("a {} block cannot have items (it says {})", kind_name(kind), items));
  if (expected != payload.size())
    throw Error(fmt::format("records overrun their block: the counts in the block header need {} payload bytes, "
                            "the block holds {}",
                            expected, payload.size()));

  block.kind = kind;
  Cursor cur(payload);
  std::vector<uint32_t> counts;  // small; the per-record sentence or mask counts
  cur.u32(n, counts);
  prefix_offsets(counts, tokens, block.token_start, "lengths");

  const auto check_labels = [&](const uint8_t* bytes) {
    block.is_next.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      const uint8_t b = bytes[i];
      if (b > 1 && b != kNoLabelByte)
        throw Error(fmt::format("record {}: is_next byte {} is not 0, 1 or {}", block.first_record + i, b, kNoLabelByte));
      block.is_next[i] = b == kNoLabelByte ? kNoLabel : int8_t(b);
    }
  };
  const auto check_len_a = [&] {
    for (uint64_t i = 0; i < n; ++i)
      if (block.len_a[i] > block.token_start[i + 1] - block.token_start[i])
        throw Error(fmt::format("record {}: segment A length {} overruns the record's {} ids", block.first_record + i,
                                block.len_a[i], block.token_start[i + 1] - block.token_start[i]));
  };

  // Docs, chat and prefs records are cut into parts (sentences, conversations, prompt and completions)
  // whose lengths add up to the record's.
  const auto read_parts = [&](const char* what) {
    cur.u32(n, counts);
    prefix_offsets(counts, items, block.sentence_start, fmt::format("{} counts", what).c_str());
    widen_column(cur, dtype, items, block.sentence_lens);
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t sum = 0;
      for (uint64_t s = block.sentence_start[i]; s < block.sentence_start[i + 1]; ++s) sum += block.sentence_lens[s];
      if (sum != block.token_start[i + 1] - block.token_start[i])
        throw Error(fmt::format("record {}: {} lengths add up to {}, the record has {} ids", block.first_record + i,
                                what, sum, block.token_start[i + 1] - block.token_start[i]));
    }
  };

  // Chat and image records have a loss mask byte per id, 0 or 1.
  const auto read_loss_mask = [&] {
    const uint8_t* mask = cur.take(tokens);
    block.loss_mask.assign(mask, mask + tokens);
    const auto bad = std::find_if(block.loss_mask.begin(), block.loss_mask.end(), [](uint8_t b) { return b > 1; });
    if (bad != block.loss_mask.end()) {
      const uint64_t at = uint64_t(bad - block.loss_mask.begin());
      const uint64_t record =
          uint64_t(std::upper_bound(block.token_start.begin(), block.token_start.end(), at) - block.token_start.begin()) - 1;
      throw Error(fmt::format("record {}: loss mask byte {} is not 0 or 1", block.first_record + record, *bad));
    }
  };

  switch (kind) {
    case RecordKind::kDocs: {
      read_parts("sentence");
      read_ids(cur, dtype, tokens, vocab_size, block.tokens, block.token_start, block.first_record, "token id");
      const uint8_t* flags = cur.take(n);
      block.doc_flags.assign(flags, flags + n);
      for (uint64_t i = 0; i < n; ++i) {
        const uint8_t f = flags[i];
        if ((f & ~kKnownDocFlags) != 0 || ((f & kSentenceContinues) && !(f & kDocContinues)))
          throw Error(fmt::format("record {}: invalid document flags {:#x}", block.first_record + i, f));
      }
      break;
    }
    case RecordKind::kPairs:
      cur.u32(n, block.len_a);
      check_len_a();
      read_ids(cur, dtype, tokens, vocab_size, block.tokens, block.token_start, block.first_record, "token id");
      check_labels(cur.take(n));
      break;
    case RecordKind::kWindows:
      read_ids(cur, dtype, tokens, vocab_size, block.tokens, block.token_start, block.first_record, "token id");
      break;
    case RecordKind::kChat:
      read_parts("conversation");
      read_ids(cur, dtype, tokens, vocab_size, block.tokens, block.token_start, block.first_record, "token id");
      read_loss_mask();
      break;
    case RecordKind::kImages: {
      cur.u32(n, block.image_height);
      cur.u32(n, block.image_width);
      block.pixel_start.resize(n + 1);
      block.pixel_start[0] = 0;
      for (uint64_t i = 0; i < n; ++i) {
        const uint64_t height = block.image_height[i], width = block.image_width[i];
        if (height == 0 || width == 0)
          throw Error(fmt::format("record {}: an image of {} x {} pixels", block.first_record + i, width, height));
        if (height * width > items - block.pixel_start[i])  // < 2^64: both are u32
          throw Error(fmt::format("records overrun their block: record {}'s image of {} x {} pixels passes the {} "
                                  "pixels the block header says",
                                  block.first_record + i, width, height, items));
        block.pixel_start[i + 1] = block.pixel_start[i] + height * width;
      }
      if (block.pixel_start[n] != items)
        throw Error(fmt::format("records overrun their block: their images add up to {} pixels, the block header "
                                "says {}",
                                block.pixel_start[n], items));
      read_ids(cur, dtype, tokens, vocab_size, block.tokens, block.token_start, block.first_record, "token id");
      read_loss_mask();
      const uint8_t* pixels = cur.take(3 * items);
      block.pixels.assign(pixels, pixels + 3 * items);
      break;
    }
    case RecordKind::kPrefs:
      read_parts("part");
      for (uint64_t i = 0; i < n; ++i) {
        const uint64_t first = block.sentence_start[i], parts = block.sentence_start[i + 1] - first;
        if (parts < 3 || parts % 2 == 0)
          throw Error(fmt::format("record {}: {} parts, not a prompt and pairs of completions", block.first_record + i,
                                  parts));
        for (uint64_t s = first + 1; s < first + parts; ++s)
          if (block.sentence_lens[s] == 0)
            throw Error(fmt::format("record {}: completion {} is empty", block.first_record + i, s - first));
      }
      read_ids(cur, dtype, tokens, vocab_size, block.tokens, block.token_start, block.first_record, "token id");
      break;
    case RecordKind::kMasked: {
      cur.u32(n, block.len_a);
      check_len_a();
      cur.u32(n, counts);
      prefix_offsets(counts, items, block.masked_start, "masked-position counts");
      cur.u32(items, block.positions);
      for (uint64_t i = 0; i < n; ++i) {
        const uint64_t len = block.token_start[i + 1] - block.token_start[i];
        for (uint64_t m = block.masked_start[i]; m < block.masked_start[i + 1]; ++m) {
          if (block.positions[m] >= len)
            throw Error(fmt::format("record {}: masked position {} overruns the record's {} ids", block.first_record + i,
                                    block.positions[m], len));
          if (m > block.masked_start[i] && block.positions[m] <= block.positions[m - 1])
            throw Error(fmt::format("record {}: masked positions are not strictly ascending", block.first_record + i));
        }
      }
      read_ids(cur, dtype, items, vocab_size, block.labels, block.masked_start, block.first_record, "masked label");
      read_ids(cur, dtype, tokens, vocab_size, block.tokens, block.token_start, block.first_record, "token id");
      check_labels(cur.take(n));
      break;
    }
  }
}

BlockDecoder::BlockDecoder() : zstd_(ZSTD_createDCtx()) {
  if (zstd_ == nullptr) throw std::bad_alloc();
}

BlockDecoder::~BlockDecoder() { ZSTD_freeDCtx(zstd_); }

void BlockDecoder::decode(RecordKind kind, TokenDtype dtype, uint32_t vocab_size, const BlockHeader& h,
                          std::span<const uint8_t> frame, Block& block) {
  static constexpr uint8_t kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  // Frame header descriptor (RFC 8878 3.1.1.1.1): writers always set bit 2 (content checksum) and never
  // bits 3-4 (reserved, and unused: a decoder ignores it, so a flip there would go unnoticed) or 0-1
  // (dictionary id).
  if (frame.size() < 5 || std::memcmp(frame.data(), kZstdMagic, 4) != 0 || (frame[4] & 0x1F) != 0x04)
    throw Error("not a zstd frame with a content checksum and no dictionary");
  if (ZSTD_getFrameContentSize(frame.data(), frame.size()) != h.payload_size)
    throw Error(fmt::format("the zstd frame does not declare the block header's payload size ({})", h.payload_size));
  const size_t frame_len = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_len) || frame_len != frame.size())
    throw Error(fmt::format("the zstd frame does not span the {} bytes the block header says", frame.size()));
  payload_.resize(h.payload_size);
  const size_t size = ZSTD_decompressDCtx(zstd_, payload_.data(), payload_.size(), frame.data(), frame.size());
  if (ZSTD_isError(size)) throw Error(fmt::format("corrupt content ({})", ZSTD_getErrorName(size)));
  if (size != h.payload_size)
    throw Error(fmt::format("the frame decompresses to {} bytes, not {}", size, h.payload_size));
  decode_payload(kind, dtype, vocab_size, h, payload_, block);
}

}  // namespace lmpipe::io
