#pragma once
// CRC-32C (Castagnoli), the checksum that guards shard headers, block headers and index footers.
// Payloads carry zstd's own XXH64 content checksum; this one only covers a few dozen bytes at a time.
#include <cstddef>
#include <cstdint>

namespace lmpipe {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace lmpipe
