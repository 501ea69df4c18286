#include "text/unicode.h"

#include <utf8proc.h>

namespace lmpipe::text {
namespace {

// One byte of flags per ASCII character: most text is ASCII, and this skips utf8proc's lookups.
enum : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4 };
constexpr auto kAsciiClass = [] {
  struct Table {
    uint8_t v[128];
  } t{};
  for (int c = 'a'; c <= 'z'; ++c) t.v[c] = kLetter;
  for (int c = 'A'; c <= 'Z'; ++c) t.v[c] = kLetter;
  for (int c = '0'; c <= '9'; ++c) t.v[c] = kNumber;
  for (int c : {'\t', '\n', '\v', '\f', '\r', ' '}) t.v[c] = kSpace;
  return t;
}();

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool is_letter(uint32_t cp) {
  if (cp < 128) return kAsciiClass.v[cp] & kLetter;
  if (cp == kInvalid) return false;
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

bool is_number(uint32_t cp) {
  if (cp < 128) return kAsciiClass.v[cp] & kNumber;
  if (cp == kInvalid) return false;
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool is_white_space(uint32_t cp) {
  if (cp < 128) return kAsciiClass.v[cp] & kSpace;
  // PropList.txt White_Space beyond ASCII (unchanged since Unicode 6.3).
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

}  // namespace lmpipe::text
