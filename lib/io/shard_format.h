#pragma once
// The shard byte layout: constants, the fixed little-endian structures, and their (de)serialisation.
// man/man5/shard.5 is the normative description; change both together.
//
//   shard   = header block* end
//   header  = magic[8] u32 version u32 json_size json[json_size] u32 crc32c(version .. json)
//   block   = "BLCK" u32 records u32 items u32 tokens u32 payload_size u32 frame_size u32 0 u32 crc32c
//             zstd_frame[frame_size]          (content size and XXH64 content checksum in the frame)
//   end     = "ENDS" u32 0 u64 blocks  {u64 offset u64 records u64 tokens}[blocks]
//             u64 blocks u64 records u64 tokens u64 shard_size u32 crc32c "LMIX"
//
// A stream is shards back to back (cat a.shard b.shard). Offsets in the index are from the shard's
// first magic byte, so concatenation keeps every index valid; shard_size lets a reader that starts
// from the end of a file step back from shard to shard.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace lmpipe::io {

static_assert(std::endian::native == std::endian::little, "the shard code assumes a little-endian machine");

// PNG-style: a non-ASCII byte, the name, then CR LF, ^Z and LF, so text-mode mangling is caught.
inline constexpr std::array<uint8_t, 8> kMagic = {0x89, 'L', 'M', 'P', '\r', '\n', 0x1A, '\n'};
inline constexpr uint32_t kVersion = 1;

inline constexpr size_t kHeaderPrefixSize = 16;                  // magic, version, json_size
inline constexpr uint32_t kMaxHeaderJson = 1 << 20;              // 1 MiB of JSON is plenty
inline constexpr size_t kBlockHeaderSize = 32;
inline constexpr uint32_t kMaxPayload = 64u << 20;              // bounds a reader's memory per block
inline constexpr size_t kDefaultBlockTarget = 4u << 20;          // what writers aim for
inline constexpr size_t kEndPrefixSize = 16;                     // "ENDS", 0, u64 blocks
inline constexpr size_t kIndexEntrySize = 24;
inline constexpr size_t kFooterSize = 40;

inline constexpr std::array<uint8_t, 4> kBlockTag = {'B', 'L', 'C', 'K'};
inline constexpr std::array<uint8_t, 4> kEndTag = {'E', 'N', 'D', 'S'};
inline constexpr std::array<uint8_t, 4> kFooterTag = {'L', 'M', 'I', 'X'};

enum class RecordKind : uint8_t { kDocs, kPairs, kWindows, kMasked, kChat, kPrefs, kImages };
inline constexpr uint8_t kRecordKinds = 7;  // RecordKind(0) .. RecordKind(kRecordKinds - 1)
enum class TokenDtype : uint8_t { kU16, kU32 };

std::string_view kind_name(RecordKind kind);
std::optional<RecordKind> parse_kind(std::string_view name);
std::string_view dtype_name(TokenDtype dtype);
std::optional<TokenDtype> parse_dtype(std::string_view name);
inline size_t dtype_bytes(TokenDtype dtype) { return dtype == TokenDtype::kU16 ? 2 : 4; }
// u16 whenever every id fits (vocab_size <= 65536), else u32.
inline TokenDtype dtype_for_vocab(uint64_t vocab_size) {
  return vocab_size <= 65536 ? TokenDtype::kU16 : TokenDtype::kU32;
}

// Flags of a docs record. A writer splits a document too large for one block into several records;
// every piece but the last has kDocContinues, and kSentenceContinues when the cut fell inside a sentence.
inline constexpr uint8_t kDocContinues = 1;
inline constexpr uint8_t kSentenceContinues = 2;
inline constexpr uint8_t kKnownDocFlags = kDocContinues | kSentenceContinues;

// is_next as stored: 0 (B is random), 1 (B follows A) or 255 (no label).
inline constexpr uint8_t kNoLabelByte = 255;

inline uint32_t load_u32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t load_u64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
inline void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void store_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

struct BlockHeader {
  uint32_t records = 0;
  uint32_t items = 0;  // docs: sentences; masked: masked positions; chat: conversations; prefs: parts;
                       // images: pixels; other kinds: 0
  uint32_t tokens = 0;
  uint32_t payload_size = 0;
  uint32_t frame_size = 0;

  std::array<uint8_t, kBlockHeaderSize> encode() const;
  // Checks tag, checksum, reserved field and limits; returns what is wrong, or nullptr.
  static const char* decode(const uint8_t* bytes, BlockHeader& out);
};

struct IndexEntry {
  uint64_t offset = 0;  // of the block header, from the shard's first magic byte
  uint64_t records = 0;
  uint64_t tokens = 0;
};

struct Footer {
  uint64_t blocks = 0;
  uint64_t records = 0;
  uint64_t tokens = 0;
  uint64_t shard_size = 0;  // bytes from the first magic byte to the end of the footer
};

}  // namespace lmpipe::io
