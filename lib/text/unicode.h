#pragma once
// UTF-8 decoding that never fails (every byte sequence decodes, invalid bytes one at a time), and the
// Unicode character classes the pre-tokenizers need, from utf8proc's tables with ASCII fast paths.
#include <cstddef>
#include <cstdint>
#include <string>

namespace lmpipe::text {

// The code point of a byte that does not start a well-formed UTF-8 sequence (RFC 3629: no overlongs,
// surrogates or values above U+10FFFF). Pre-tokenizers treat it as U+FFFD would be treated (a symbol:
// not a letter, number or space); encoders keep its original byte, so encoding stays lossless.
inline constexpr uint32_t kInvalid = 0xFFFFFFFFu;

struct Decoded {
  uint32_t cp;   // the code point, or kInvalid
  uint32_t len;  // bytes consumed: 1..4 (1 for an invalid byte)
};

// Decodes the code point starting at p; n >= 1 bytes are available.
inline Decoded decode_utf8(const uint8_t* p, size_t n) {
  const uint8_t c = p[0];
  if (c < 0x80) return {c, 1};
  uint32_t len, cp, min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return {kInvalid, 1};
  }
  if (n < len) return {kInvalid, 1};
  for (uint32_t k = 1; k < len; ++k) {
    if ((p[k] & 0xC0) != 0x80) return {kInvalid, 1};
    cp = (cp << 6) | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {kInvalid, 1};
  return {cp, len};
}

void append_utf8(std::string& out, uint32_t cp);

// Unicode general category groups and properties (kInvalid is none of them).
bool is_letter(uint32_t cp);       // \p{L}: Lu Ll Lt Lm Lo
bool is_number(uint32_t cp);       // \p{N}: Nd Nl No
bool is_white_space(uint32_t cp);  // the White_Space property: what \s matches in tiktoken, HF and GPT-2's regex

}  // namespace lmpipe::text
