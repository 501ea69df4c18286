#include "text/gpt2_pretokenizer.h"

#include "text/unicode.h"

namespace lmpipe::text {
namespace {

enum class Class : uint8_t { kLetter, kNumber, kSpace, kOther };

struct Char {
  Class cls;
  uint32_t len;
};

Char classify_unicode(const uint8_t* p, size_t n) {
  const Decoded d = decode_utf8(p, n);
  if (is_letter(d.cp)) return {Class::kLetter, d.len};
  if (is_number(d.cp)) return {Class::kNumber, d.len};
  if (is_white_space(d.cp)) return {Class::kSpace, d.len};
  return {Class::kOther, d.len};  // kInvalid lands here
}

constexpr auto kAscii = [] {
  struct Table {
    Class v[128];
  } t{};
  for (int c = 0; c < 128; ++c) {
    t.v[c] = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? Class::kLetter
             : (c >= '0' && c <= '9')                  ? Class::kNumber
             : (c == ' ' || (c >= '\t' && c <= '\r')) ? Class::kSpace
                                                        : Class::kOther;
  }
  return t;
}();

inline Char classify(const uint8_t* p, size_t n) {
  if (p[0] < 0x80) return {kAscii.v[p[0]], 1};
  return classify_unicode(p, n);
}

// End of the run of characters of class cls that starts at pos.
size_t run_end(const uint8_t* s, size_t n, size_t pos, Class cls) {
  while (pos < n) {
    const Char c = classify(s + pos, n - pos);
    if (c.cls != cls) break;
    pos += c.len;
  }
  return pos;
}

// 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2): the length of the contraction at pos, or 0.
size_t contraction(const uint8_t* s, size_t n, size_t pos) {
  if (s[pos] != '\'' || pos + 1 >= n) return 0;
  const uint8_t a = s[pos + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 < n) {
    const uint8_t b = s[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

}  // namespace

size_t gpt2_piece_end(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  if (const size_t len = contraction(s, n, pos)) return pos + len;
  const Char first = classify(s + pos, n - pos);
  // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional ASCII space, then a run of one class.
  if (s[pos] == ' ' && pos + 1 < n) {
    const Char next = classify(s + pos + 1, n - pos - 1);
    if (next.cls != Class::kSpace) return run_end(s, n, pos + 1, next.cls);
  }
  if (first.cls != Class::kSpace) return run_end(s, n, pos, first.cls);
  // "\s+(?!\S)|\s+": a whitespace run; before a non-space it gives up its last character, which then
  // starts the next piece (as " word", or alone). A single whitespace character is a piece by itself.
  size_t end = pos, last = pos;
  while (end < n) {
    const Char c = classify(s + end, n - end);
    if (c.cls != Class::kSpace) break;
    last = end;
    end += c.len;
  }
  if (end == n || last == pos) return end;
  return last;
}

}  // namespace lmpipe::text
