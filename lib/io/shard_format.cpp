#include "io/shard_format.h"

#include <fmt/format.h>
#include <zstd.h>

#include <string>

#include "core/crc32c.h"

namespace lmpipe::io {

std::string_view kind_name(RecordKind kind) {
  switch (kind) {
    case RecordKind::kDocs: return "docs";
    case RecordKind::kPairs: return "pairs";
    case RecordKind::kWindows: return "windows";
    case RecordKind::kMasked: return "masked";
    case RecordKind::kChat: return "chat";
    case RecordKind::kPrefs: return "prefs";
    case RecordKind::kImages: return "images";
  }
  return "?";
}

std::optional<RecordKind> parse_kind(std::string_view name) {
  for (uint8_t k = 0; k < kRecordKinds; ++k)
    if (kind_name(RecordKind(k)) == name) return RecordKind(k);
  return std::nullopt;
}

std::string_view dtype_name(TokenDtype dtype) { return dtype == TokenDtype::kU16 ? "u16" : "u32"; }

std::optional<TokenDtype> parse_dtype(std::string_view name) {
  if (name == "u16") return TokenDtype::kU16;
  if (name == "u32") return TokenDtype::kU32;
  return std::nullopt;
}

std::array<uint8_t, kBlockHeaderSize> BlockHeader::encode() const {
  std::array<uint8_t, kBlockHeaderSize> b{};
  std::memcpy(b.data(), kBlockTag.data(), 4);
  store_u32(b.data() + 4, records);
  store_u32(b.data() + 8, items);
  store_u32(b.data() + 12, tokens);
  store_u32(b.data() + 16, payload_size);
  store_u32(b.data() + 20, frame_size);
  store_u32(b.data() + 24, 0);
  store_u32(b.data() + 28, crc32c(b.data(), 28));
  return b;
}

const char* BlockHeader::decode(const uint8_t* b, BlockHeader& out) {
  if (std::memcmp(b, kBlockTag.data(), 4) != 0) return "expected a block header (BLCK) or the end of the shard (ENDS)";
  if (load_u32(b + 28) != crc32c(b, 28)) return "block header checksum mismatch";
  if (load_u32(b + 24) != 0) return "block header has a non-zero reserved field";
  out.records = load_u32(b + 4);
  out.items = load_u32(b + 8);
  out.tokens = load_u32(b + 12);
  out.payload_size = load_u32(b + 16);
  out.frame_size = load_u32(b + 20);
  if (out.records == 0) return "empty block";
  static_assert(kMaxPayload % (1u << 20) == 0, "the message below states the limit in MiB");
  if (out.payload_size > kMaxPayload) {
    static const std::string too_large =
        fmt::format("block payload larger than the format's {} MiB limit", kMaxPayload >> 20);
    return too_large.c_str();
  }
  if (out.frame_size > ZSTD_compressBound(out.payload_size) || out.frame_size == 0)
    return "block frame size impossible for its payload size";
  return nullptr;
}

}  // namespace lmpipe::io
