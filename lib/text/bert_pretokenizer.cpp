#include "text/bert_pretokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>
#include <span>
#include <utility>

#include "text/unicode.h"

namespace lmpipe::text {
namespace {

// --- HuggingFace's character tables --------------------------------------------------------------------
// HF's BertNormalizer and BertPreTokenizer take Cc/Cf/Co, Mn and P* from the unicode_categories crate,
// whose tables are from about Unicode 8, and NFD from a fork of unicode-normalization from about 9;
// lowercasing is Rust's char::to_lowercase, whose tables are newer than utf8proc 2.8's (Unicode 15).
// These lists are the differences from utf8proc 2.8, found by running tokenizers 0.23 over every code
// point: without them, text in scripts added since Unicode 8 tokenizes differently.

struct Range {
  uint32_t first, last;
};

bool in_ranges(std::span<const Range> ranges, uint32_t cp) {
  const auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                                   [](uint32_t c, const Range& r) { return c < r.first; });
  return it != ranges.begin() && cp <= std::prev(it)->last;
}

// Cf characters HF keeps: assigned after its tables.
constexpr Range kHfNotControl[] = {{0x890, 0x891}, {0x8E2, 0x8E2}, {0x110CD, 0x110CD}, {0x13430, 0x1343F}};

// Mn characters HF keeps: assigned after its tables, or Po there (U+111C9).
constexpr Range kHfNotMn[] = {
    {0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8E1},     {0x9FE, 0x9FE},     {0xAFA, 0xAFF},
    {0xB55, 0xB55},     {0xC04, 0xC04},     {0xC3C, 0xC3C},     {0xD00, 0xD00},     {0xD3B, 0xD3C},
    {0xD81, 0xD81},     {0xEBA, 0xEBA},     {0xECE, 0xECE},     {0x180F, 0x180F},   {0x1885, 0x1886},
    {0x1ABF, 0x1ACE},   {0x1DF6, 0x1DFB},   {0xA82C, 0xA82C},   {0xA8C5, 0xA8C5},   {0xA8FF, 0xA8FF},
    {0xA9BD, 0xA9BD},   {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50},
    {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x11073, 0x11074}, {0x110C2, 0x110C2}, {0x111C9, 0x111C9},
    {0x111CF, 0x111CF}, {0x1123E, 0x1123E}, {0x11241, 0x11241}, {0x1133B, 0x1133B}, {0x11438, 0x1143F},
    {0x11442, 0x11444}, {0x11446, 0x11446}, {0x1145E, 0x1145E}, {0x1182F, 0x11837}, {0x11839, 0x1183A},
    {0x1193B, 0x1193C}, {0x1193E, 0x1193E}, {0x11943, 0x11943}, {0x119D4, 0x119D7}, {0x119DA, 0x119DB},
    {0x119E0, 0x119E0}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38}, {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47},
    {0x11A51, 0x11A56}, {0x11A59, 0x11A5B}, {0x11A8A, 0x11A96}, {0x11A98, 0x11A99}, {0x11C30, 0x11C36},
    {0x11C38, 0x11C3D}, {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
    {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D}, {0x11D3F, 0x11D45},
    {0x11D47, 0x11D47}, {0x11D90, 0x11D91}, {0x11D95, 0x11D95}, {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4},
    {0x11F00, 0x11F01}, {0x11F36, 0x11F3A}, {0x11F40, 0x11F40}, {0x11F42, 0x11F42}, {0x13440, 0x13440},
    {0x13447, 0x13455}, {0x16F4F, 0x16F4F}, {0x16FE4, 0x16FE4}, {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46},
    {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024}, {0x1E026, 0x1E02A},
    {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
    {0x1E944, 0x1E94A}};
constexpr uint32_t kHfExtraMn = 0x1734;  // Mn in HF's tables, Mc since Unicode 14

// P* characters HF does not split off: assigned after its tables.
constexpr Range kHfNotPunct[] = {
    {0x61D, 0x61D},     {0x9FD, 0x9FD},     {0xA76, 0xA76},     {0xC77, 0xC77},     {0xC84, 0xC84},
    {0x1B7D, 0x1B7E},   {0x2E43, 0x2E4F},   {0x2E52, 0x2E5D},   {0x10EAD, 0x10EAD}, {0x10F55, 0x10F59},
    {0x10F86, 0x10F89}, {0x1144B, 0x1144F}, {0x1145A, 0x1145B}, {0x1145D, 0x1145D}, {0x11660, 0x1166C},
    {0x116B9, 0x116B9}, {0x1183B, 0x1183B}, {0x11944, 0x11946}, {0x119E2, 0x119E2}, {0x11A3F, 0x11A46},
    {0x11A9A, 0x11A9C}, {0x11A9E, 0x11AA2}, {0x11B00, 0x11B09}, {0x11C41, 0x11C45}, {0x11C70, 0x11C71},
    {0x11EF7, 0x11EF8}, {0x11F43, 0x11F4F}, {0x11FFF, 0x11FFF}, {0x12FF1, 0x12FF2}, {0x16E97, 0x16E9A},
    {0x16FE2, 0x16FE2}, {0x1E95E, 0x1E95F}};
// Punctuation (Po) in HF's tables, So and Mn now.
constexpr uint32_t kHfExtraPunct[] = {0x166D, 0x111C9};

// Marks with a nonzero combining class that HF keeps but its normaliser (about Unicode 9) gives class
// 0: it does not reorder them, and they end a run of marks.
constexpr Range kHfNoCombiningClass[] = {
    {0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8D3},     {0x9FE, 0x9FE},     {0xC3C, 0xC3C},
    {0xD3B, 0xD3C},     {0xEBA, 0xEBA},     {0x1715, 0x1715},   {0x1ABF, 0x1ACE},   {0x1DF6, 0x1DFA},
    {0xA82C, 0xA82C},   {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50},
    {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x1133B, 0x1133B}, {0x1145E, 0x1145E}, {0x11839, 0x1183A},
    {0x1193D, 0x1193E}, {0x11943, 0x11943}, {0x119E0, 0x119E0}, {0x11A34, 0x11A34}, {0x11A47, 0x11A47},
    {0x11A99, 0x11A99}, {0x11D42, 0x11D42}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97}, {0x11F41, 0x11F42},
    {0x16FF0, 0x16FF1}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF},
    {0x1E4EC, 0x1E4EF}};

// Decomposes in Unicode 15 (since 13), not in HF's normaliser.
constexpr uint32_t kHfNoDecomposition = 0x11938;

// Lowercase mappings Rust's tables have and utf8proc 2.8's do not (letters added in Unicode 16 and 17):
// first..last map to cp + delta.
struct LowerRange {
  uint32_t first, last;
  int32_t delta;
};
constexpr LowerRange kHfNewerLowercase[] = {
    {0x1C89, 0x1C89, 1},         {0xA7CB, 0xA7CB, 0x264 - 0xA7CB}, {0xA7CC, 0xA7CC, 1}, {0xA7CE, 0xA7CE, 1},
    {0xA7D2, 0xA7D2, 1},         {0xA7D4, 0xA7D4, 1},              {0xA7DA, 0xA7DA, 1}, {0xA7DC, 0xA7DC, 0x19B - 0xA7DC},
    {0x10D50, 0x10D65, 0x20},    {0x16EA0, 0x16EB8, 0x1B}};

// --- character classes, per style ---------------------------------------------------------------------

bool is_ascii_punctuation(uint32_t cp) {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
}

bool is_punctuation_category(int category) {
  return category >= UTF8PROC_CATEGORY_PC && category <= UTF8PROC_CATEGORY_PO;
}

// What clean_text drops (besides NUL and U+FFFD, which both styles drop): HF drops Cc, Cf and Co,
// Google only Cc and Cf. Both keep \t \n \r, which become spaces; every other C0 control (\v and \f
// included) is dropped rather than turned into a space.
template <BertStyle kStyle>
bool is_control(uint32_t cp, int category) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  if (category == UTF8PROC_CATEGORY_CC) return true;
  if constexpr (kStyle == BertStyle::kHuggingFace) {
    return (category == UTF8PROC_CATEGORY_CF || category == UTF8PROC_CATEGORY_CO) && !in_ranges(kHfNotControl, cp);
  } else {
    return category == UTF8PROC_CATEGORY_CF;
  }
}

// What separates words: HF splits on Rust's char::is_whitespace (the White_Space property). Google
// maps ' ', \t, \n, \r and Zs to ' ' and then splits with Python's str.split(), which also splits on
// what it kept: U+2028, U+2029, and (without clean_text) \v \f \x1c-\x1f \x85.
template <BertStyle kStyle>
bool is_space(uint32_t cp) {
  if constexpr (kStyle == BertStyle::kGoogle) {
    if (cp >= 0x1C && cp <= 0x1F) return true;
  }
  return is_white_space(cp);
}

template <BertStyle kStyle>
bool is_cjk(uint32_t cp) {
  // The CJK Unified Ideographs blocks and the compatibility ideographs; not Hangul, kana or CJK
  // punctuation. HF's table starts extension E at U+2B920 and so misses U+2B820..U+2B91F.
  constexpr uint32_t kExtensionE = kStyle == BertStyle::kHuggingFace ? 0x2B920 : 0x2B820;
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= kExtensionE && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

template <BertStyle kStyle>
bool is_punctuation(uint32_t cp, int category) {
  if (cp < 128) return is_ascii_punctuation(cp);
  if constexpr (kStyle == BertStyle::kHuggingFace) {
    if (cp == kHfExtraPunct[0] || cp == kHfExtraPunct[1]) return true;
    return is_punctuation_category(category) && !in_ranges(kHfNotPunct, cp);
  } else {
    return is_punctuation_category(category);
  }
}

template <BertStyle kStyle>
bool is_nonspacing_mark(uint32_t cp, int category) {
  if constexpr (kStyle == BertStyle::kHuggingFace) {
    if (cp == kHfExtraMn) return true;
    return category == UTF8PROC_CATEGORY_MN && !in_ranges(kHfNotMn, cp);
  } else {
    return category == UTF8PROC_CATEGORY_MN;
  }
}

template <BertStyle kStyle>
int combining_class(uint32_t cp, const utf8proc_property_t* property) {
  const int ccc = property->combining_class;
  if constexpr (kStyle == BertStyle::kHuggingFace) {
    if (ccc != 0 && in_ranges(kHfNoCombiningClass, cp)) return 0;
  }
  return ccc;
}

// Canonical decomposition of one code point, without reordering (the caller reorders); returns the
// number of code points written to out (at most kMaxDecomposition).
constexpr int kMaxDecomposition = 8;
template <BertStyle kStyle>
int decompose(uint32_t cp, uint32_t (&out)[kMaxDecomposition]) {
  if constexpr (kStyle == BertStyle::kHuggingFace) {
    if (cp == kHfNoDecomposition) {
      out[0] = cp;
      return 1;
    }
  }
  utf8proc_int32_t buffer[kMaxDecomposition];
  int boundclass = 0;
  const utf8proc_ssize_t n =
      utf8proc_decompose_char(utf8proc_int32_t(cp), buffer, kMaxDecomposition, UTF8PROC_DECOMPOSE, &boundclass);
  if (n < 1 || n > kMaxDecomposition) {  // cannot happen for valid scalar values; keep the character
    out[0] = cp;
    return 1;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out[i] = uint32_t(buffer[i]);
  return int(n);
}

// For Python's Final_Sigma rule (Google style): the Case_Ignorable and Cased properties, which utf8proc
// does not carry, derived from the general category and the short lists DerivedCoreProperties.txt adds.
bool is_case_ignorable(uint32_t cp, int category) {
  switch (category) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  // Word_Break MidLetter, MidNumLet and Single_Quote.
  switch (cp) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
      return true;
    default:
      return false;
  }
}

bool is_cased(uint32_t cp, int category) {
  if (category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LL || category == UTF8PROC_CATEGORY_LT)
    return true;
  // Other_Lowercase and Other_Uppercase outside Lm and Mn (those are case-ignorable, so the rule never
  // asks whether they are cased).
  return cp == 0xAA || cp == 0xBA || (cp >= 0x2160 && cp <= 0x217F) || (cp >= 0x24B6 && cp <= 0x24E9) ||
         (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189);
}

int category_of(uint32_t cp) { return utf8proc_get_property(utf8proc_int32_t(cp))->category; }

// The ASCII table: the low two bits say what happens to the byte, the others feed Final_Sigma.
enum : uint8_t { kAsciiWord = 0, kAsciiDrop = 1, kAsciiSpace = 2, kAsciiPunct = 3, kAsciiKindMask = 3 };
enum : uint8_t { kAsciiCased = 4, kAsciiCaseIgnorable = 8 };

template <BertStyle kStyle>
void fill_ascii_table(const BertNormalizerOptions& options, uint8_t* ascii_class, char* ascii_lower) {
  for (uint32_t c = 0; c < 128; ++c) {
    const int category = category_of(c);
    uint8_t kind = kAsciiWord;
    if (options.clean_text && (c == 0 || is_control<kStyle>(c, category))) {
      kind = kAsciiDrop;
    } else if (is_space<kStyle>(c)) {
      kind = kAsciiSpace;
    } else if (is_ascii_punctuation(c)) {
      kind = kAsciiPunct;
    }
    ascii_class[c] = uint8_t(kind | (is_cased(c, category) ? kAsciiCased : 0) |
                             (is_case_ignorable(c, category) ? kAsciiCaseIgnorable : 0));
    ascii_lower[c] = char(options.lowercase && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
}

// --- the pipeline -----------------------------------------------------------------------------------------
// One pass over the text, character by character, doing what the references do in whole-text passes:
//   HF:     clean -> CJK spacing -> NFD, drop Mn -> lowercase -> split on whitespace -> isolate punctuation
//   Google: clean -> CJK spacing -> split on whitespace -> lower() -> NFD, drop Mn -> isolate punctuation
// Per character this is exact except for what spans characters: NFD's canonical reordering (done here
// on a run of marks, see marks_) and Python's Final_Sigma (see final_sigma()).

template <BertStyle kStyle>
class Splitter {
 public:
  Splitter(const BertNormalizerOptions& options, bool strip_accents, const uint8_t* ascii_class,
           const char* ascii_lower, WordList& out)
      : clean_(options.clean_text),
        chinese_(options.handle_chinese_chars),
        lowercase_(options.lowercase),
        strip_(strip_accents),
        ascii_class_(ascii_class),
        ascii_lower_(ascii_lower),
        out_(out),
        word_start_(out.chars.size()) {}

  void run(std::string_view text) {
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    const auto* const end = p + text.size();
    out_.chars.reserve(out_.chars.size() + text.size());
    while (p < end) {
      const uint8_t c = *p;
      if (c < 0x80) {
        ++p;
        const uint8_t cls = ascii_class_[c];
        switch (cls & kAsciiKindMask) {
          case kAsciiWord:
            if (!marks_.empty()) flush_marks();
            out_.chars.push_back(ascii_lower_[c]);
            break;
          case kAsciiDrop:
            continue;  // gone before anything else sees it: not even the Final_Sigma context
          case kAsciiSpace:
            boundary();
            continue;
          case kAsciiPunct:
            if (!marks_.empty()) flush_marks();
            end_word();
            out_.chars.push_back(char(c));
            end_word();
            break;
        }
        if constexpr (kStyle == BertStyle::kGoogle) {
          if (!(cls & kAsciiCaseIgnorable)) previous_cased_ = cls & kAsciiCased;
        }
        continue;
      }
      const Decoded d = decode_utf8(p, size_t(end - p));
      p += d.len;
      feed(d.cp == kInvalid ? 0xFFFD : d.cp, p, end);
    }
    boundary();
  }

 private:
  struct Mark {
    int ccc;
    uint32_t cp;
  };

  // One non-ASCII code point; next..end is the text after it (for Final_Sigma's look-ahead).
  void feed(uint32_t cp, const uint8_t* next, const uint8_t* end) {
    const int category = category_of(cp);
    if (clean_ && (cp == 0xFFFD || is_control<kStyle>(cp, category))) return;
    if (is_space<kStyle>(cp)) {
      boundary();
      return;
    }
    const bool cjk = chinese_ && is_cjk<kStyle>(cp);
    if (cjk) boundary();
    if constexpr (kStyle == BertStyle::kGoogle) {
      if (lowercase_) {
        if (cp == 0x130) {  // SpecialCasing.txt: the one unconditional multi-character lowercase
          strip_and_emit(0x69);
          strip_and_emit(0x307);
        } else if (cp == 0x3A3) {
          strip_and_emit(final_sigma(next, end) ? 0x3C2 : 0x3C3);
        } else {
          strip_and_emit(uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))));
        }
        if (!is_case_ignorable(cp, category)) previous_cased_ = is_cased(cp, category);
      } else {
        strip_and_emit(cp);
      }
    } else {
      strip_and_emit(cp);
    }
    if (cjk) boundary();
  }

  // NFD and dropping Mn, if stripping accents. Marks with a nonzero combining class that survive
  // (spacing marks such as U+1D165) wait in marks_ until the next starter, to be put in canonical order.
  void strip_and_emit(uint32_t cp) {
    if (!strip_) {
      emit(cp);
      return;
    }
    uint32_t decomposed[kMaxDecomposition];
    const int n = decompose<kStyle>(cp, decomposed);
    for (int i = 0; i < n; ++i) {
      const uint32_t d = decomposed[i];
      const utf8proc_property_t* property = utf8proc_get_property(utf8proc_int32_t(d));
      const bool mark = is_nonspacing_mark<kStyle>(d, property->category);
      const int ccc = combining_class<kStyle>(d, property);
      if (ccc == 0) {
        if (!marks_.empty()) flush_marks();
        if (!mark) emit(d);
      } else if (!mark) {
        marks_.push_back({ccc, d});
      }
    }
  }

  void flush_marks() {
    // Dropping the Mn marks before sorting changes nothing: the sort is stable.
    std::stable_sort(marks_.begin(), marks_.end(), [](const Mark& a, const Mark& b) { return a.ccc < b.ccc; });
    for (const Mark& m : marks_) emit(m.cp);
    marks_.clear();
  }

  // HF lowercases after stripping accents (Google has lowercased already), then the pre-tokenizer
  // isolates punctuation.
  void emit(uint32_t cp) {
    if constexpr (kStyle == BertStyle::kHuggingFace) {
      if (lowercase_ && cp < 128) {
        cp = uint8_t(ascii_lower_[cp]);
      } else if (lowercase_) {
        if (cp == 0x130) {  // Rust's to_lowercase uses the full mapping: "i\u0307"
          put(0x69);
          put(0x307);
          return;
        }
        const auto lower = uint32_t(utf8proc_tolower(utf8proc_int32_t(cp)));
        if (lower == cp && category_of(cp) == UTF8PROC_CATEGORY_CN) {
          for (const LowerRange& r : kHfNewerLowercase) {
            if (cp >= r.first && cp <= r.last) {
              put(uint32_t(int32_t(cp) + r.delta));
              return;
            }
          }
        }
        put(lower);
        return;
      }
    }
    put(cp);
  }

  void put(uint32_t cp) {
    if (is_punctuation<kStyle>(cp, cp < 128 ? 0 : category_of(cp))) {
      end_word();
      append_utf8(out_.chars, cp);
      end_word();
    } else {
      append_utf8(out_.chars, cp);
    }
  }

  // Python's Final_Sigma: a capital sigma lowercases to final ς when a cased letter comes before it
  // and none after it in its whitespace-separated token, skipping case-ignorable characters (an
  // apostrophe, a full stop, accents) both ways. The token is the cleaned one: dropped characters
  // are not in it, and a space or a CJK ideograph ends it.
  bool final_sigma(const uint8_t* p, const uint8_t* end) const {
    if (!previous_cased_) return false;
    while (p < end) {
      const Decoded d = decode_utf8(p, size_t(end - p));
      p += d.len;
      const uint32_t cp = d.cp == kInvalid ? 0xFFFD : d.cp;
      const int category = category_of(cp);
      if (clean_ && (cp == 0 || cp == 0xFFFD || is_control<kStyle>(cp, category))) continue;
      if (is_space<kStyle>(cp) || (chinese_ && is_cjk<kStyle>(cp))) return true;
      if (!is_case_ignorable(cp, category)) return !is_cased(cp, category);
    }
    return true;
  }

  void end_word() {
    if (out_.chars.size() != word_start_) {
      word_start_ = out_.chars.size();
      out_.ends.push_back(word_start_);
    }
  }

  void boundary() {
    if (!marks_.empty()) flush_marks();
    end_word();
    previous_cased_ = false;
  }

  const bool clean_, chinese_, lowercase_, strip_;
  const uint8_t* const ascii_class_;
  const char* const ascii_lower_;
  WordList& out_;
  size_t word_start_;
  std::vector<Mark> marks_;      // empty but for rare scripts: allocates only when used
  bool previous_cased_ = false;  // Final_Sigma: whether the token so far ends in a cased letter
};

}  // namespace

BertPreTokenizer::BertPreTokenizer(BertNormalizerOptions options)
    : options_(std::move(options)), strip_accents_(options_.strip_accents.value_or(options_.lowercase)) {
  if (options_.style == BertStyle::kHuggingFace) {
    fill_ascii_table<BertStyle::kHuggingFace>(options_, ascii_class_, ascii_lower_);
  } else {
    fill_ascii_table<BertStyle::kGoogle>(options_, ascii_class_, ascii_lower_);
  }
}

void BertPreTokenizer::split(std::string_view text, WordList& words) const {
  words.clear();
  if (options_.style == BertStyle::kHuggingFace) {
    Splitter<BertStyle::kHuggingFace>(options_, strip_accents_, ascii_class_, ascii_lower_, words).run(text);
  } else {
    Splitter<BertStyle::kGoogle>(options_, strip_accents_, ascii_class_, ascii_lower_, words).run(text);
  }
}

void BertPreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
  WordList list;
  split(text, list);
  words.clear();
  words.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) words.emplace_back(list[i]);
}

}  // namespace lmpipe::text
