#pragma once
// SHA-256 (FIPS 180-4), for vocabulary fingerprints. None of the project's dependencies exports a
// hash of its own, and a fingerprint only ever covers a few MB of vocabulary, so a plain portable
// implementation is enough.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lmpipe {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::array<uint8_t, 32> digest();  // finishes the hash; the object must not be updated afterwards
  std::string hex_digest();          // 64 lowercase hex digits

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace lmpipe
