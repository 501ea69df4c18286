// lib/text/bert_pretokenizer and lib/tok/wordpiece: parity with HuggingFace's BertWordPieceTokenizer on
// the samples in tests/data/tok, and the places where google-research/bert's basic tokenizer differs.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "text/bert_pretokenizer.h"
#include "tok/vocab.h"
#include "tok/wordpiece.h"

using namespace lmpipe;
using namespace std::literals;
using namespace lmpipe::tok;
using text::BertNormalizerOptions;
using text::BertStyle;
using Strings = std::vector<std::string>;
namespace fs = std::filesystem;

namespace {

#ifdef LMPIPE_TEST_DATA_DIR
const fs::path kDataDir = fs::path(LMPIPE_TEST_DATA_DIR) / "tok";
#else
const fs::path kDataDir = fs::path(__FILE__).parent_path().parent_path() / "data" / "tok";
#endif

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot open " << path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

// Lines split on '\n', the empty piece after the last one dropped (as make_reference_ids.py does).
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

std::vector<uint32_t> parse_ids(const std::string& line) {
  std::vector<uint32_t> ids;
  std::istringstream in(line);
  for (uint32_t id; in >> id;) ids.push_back(id);
  return ids;
}

std::string join(const std::vector<uint32_t>& ids) {
  std::ostringstream s;
  for (size_t i = 0; i < ids.size(); ++i) s << (i ? " " : "") << ids[i];
  return s.str();
}

const Vocab& bert_uncased() {
  static const Vocab vocab = load_vocab("bert-base-uncased");
  return vocab;
}

BertNormalizerOptions hf(bool lowercase = true) {
  BertNormalizerOptions o;
  o.lowercase = lowercase;
  return o;
}

BertNormalizerOptions google(bool lowercase = true) {
  BertNormalizerOptions o = hf(lowercase);
  o.style = BertStyle::kGoogle;
  return o;
}

Strings words(std::string_view text, const BertNormalizerOptions& options) {
  Strings out = {"left over from before"};
  text::BertPreTokenizer(options).split(text, out);
  return out;
}

// The tokens an encoder produces for text, which read better than ids.
Strings pieces(const WordPieceEncoder& encoder, const Vocab& vocab, std::string_view text) {
  std::vector<uint32_t> ids;
  encoder.encode(text, ids);
  Strings out;
  for (uint32_t id : ids) out.push_back(vocab.tokens.at(id));
  return out;
}

Strings pieces(const WordPieceOptions& options, std::string_view text) {
  return pieces(WordPieceEncoder(bert_uncased(), options), bert_uncased(), text);
}

WordPieceOptions with_normalizer(const BertNormalizerOptions& normalizer) {
  WordPieceOptions o;
  o.normalizer = normalizer;
  return o;
}

Vocab small_vocab(const Strings& tokens) {
  Vocab v;
  v.kind = VocabKind::kWordPiece;
  v.tokens = tokens;
  for (uint32_t id = 0; id < tokens.size(); ++id) v.ids.emplace(tokens[id], id);
  v.source = "test vocabulary";
  return v;
}

std::string messy_line(std::string_view label) {
  for (const std::string& line : split_lines(read_file(kDataDir / "messy.txt")))
    if (line.starts_with(label)) return line;
  FAIL("messy.txt has no line starting with " << label);
  return {};
}

}  // namespace

TEST_CASE("WordPiece equals HuggingFace's BertWordPieceTokenizer on every sample line") {
  const WordPieceEncoder encoder(bert_uncased(), WordPieceOptions{});
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(kDataDir)) {
    const fs::path txt = entry.path();
    if (txt.extension() != ".txt") continue;
    const fs::path reference = kDataDir / (txt.stem().string() + ".bert-base-uncased.ids");
    if (!fs::exists(reference)) continue;
    ++files;
    const std::vector<std::string> lines = split_lines(read_file(txt));
    const std::vector<std::string> expected = split_lines(read_file(reference));
    REQUIRE_MESSAGE(lines.size() == expected.size(), txt.filename().string() << ": line counts differ");
    size_t matched = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      std::vector<uint32_t> ids;
      encoder.encode(lines[i], ids);
      if (ids != parse_ids(expected[i])) {
        FAIL_CHECK(txt.filename().string() << ":" << i + 1 << ": " << lines[i] << "\n  expected: " << expected[i]
                                           << "\n  got:      " << join(ids));
        break;  // the first mismatch says enough
      }
      ++matched;
    }
    MESSAGE(txt.filename().string() << ": " << matched << " of " << lines.size() << " lines match");
  }
  CHECK(files >= 5);
}

// google-research/bert expectations below come from tokenization.py's BasicTokenizer, run in Python
// (unicodedata 14.0) on the same strings.

TEST_CASE("clean_text: what each style drops and what becomes a space") {
  // Both drop C0 controls other than \t \n \r, \v and \f included: the control test comes before
  // the whitespace test in both (so \v does not become a space in HF either), and NEL (U+0085) too.
  for (const auto& options : {hf(), google()}) {
    CHECK(words("a\vb\fc", options) == Strings{"abc"});
    CHECK(words("a\u0085b", options) == Strings{"ab"});
    CHECK(words("a\034b", options) == Strings{"ab"});
    CHECK(words("nul\0byte"sv, options) == Strings{"nulbyte"});
    CHECK(words("tab\there\r\nnext", options) == Strings{"tab", "here", "next"});
    // U+2028 and U+2029 separate words in both: HF maps White_Space to ' ', Google keeps them and
    // Python's str.split() splits on them.
    CHECK(words("a\u2028b\u2029c", options) == Strings{"a", "b", "c"});
  }
  // HF drops private-use characters (it counts every C* category it knows but Cn); Google keeps them.
  CHECK(words("a\ue000b", hf()) == Strings{"ab"});
  CHECK(words("a\ue000b", google()) == Strings{"a\ue000b"});
  // A Cf character newer than HF's Unicode tables (U+0890, Unicode 14): HF keeps it, Google drops it.
  CHECK(words("a\u0890b", hf()) == Strings{"a\u0890b"});
  CHECK(words("a\u0890b", google()) == Strings{"ab"});
  // Without clean_text the control characters stay, and only the whitespace test splits: Python's
  // str.split() splits on \x1c..\x1f, Rust's char::is_whitespace does not.
  BertNormalizerOptions hf_raw = hf(), google_raw = google();
  hf_raw.clean_text = google_raw.clean_text = false;
  CHECK(words("a\034b\vc", hf_raw) == Strings{"a\034b", "c"});
  CHECK(words("a\034b\vc", google_raw) == Strings{"a", "b", "c"});
  CHECK(words("a\001b", hf_raw) == Strings{"a\001b"});
}

TEST_CASE("bytes that are not UTF-8 behave as U+FFFD: dropped by clean_text, kept without it") {
  CHECK(words("caf\xe9 na\xefve", hf()) == Strings{"caf", "nave"});
  CHECK(words("caf\xe9 na\xefve", google()) == Strings{"caf", "nave"});
  CHECK(words("caf\xef\xbf\xbd", hf()) == Strings{"caf"});  // a literal U+FFFD, the same
  BertNormalizerOptions raw = hf();
  raw.clean_text = false;
  CHECK(words("caf\xe9 \xff", raw) == Strings{"caf\xef\xbf\xbd", "\xef\xbf\xbd"});
}

TEST_CASE("CJK ideographs are words of their own; HF's table misses U+2B820..U+2B91F") {
  for (const auto& options : {hf(), google()}) {
    CHECK(words("ab漢字cd", options) == Strings{"ab", "漢", "字", "cd"});
    CHECK(words("a\U0002B920b", options) == Strings{"a", "\U0002B920", "b"});
  }
  // Hangul and kana are not CJK here. (Uncased, NFD takes Hangul syllables apart into conjoining jamo:
  // 한 is U+1112 U+1161 U+11AB.)
  CHECK(words("한국어 かな", hf(false)) == Strings{"한국어", "かな"});
  CHECK(words("한국어 かな", google(false)) == Strings{"한국어", "かな"});
  CHECK(words("한", hf()) == Strings{"\u1112\u1161\u11AB"});
  CHECK(words("한", google()) == Strings{"\u1112\u1161\u11AB"});
  CHECK(words("a\U0002B820b", hf()) == Strings{"a\U0002B820b"});
  CHECK(words("a\U0002B91Fb", hf()) == Strings{"a\U0002B91Fb"});
  CHECK(words("a\U0002B820b", google()) == Strings{"a", "\U0002B820", "b"});
  CHECK(words("a\U0002B91Fb", google()) == Strings{"a", "\U0002B91F", "b"});
  BertNormalizerOptions off = hf();
  off.handle_chinese_chars = false;
  CHECK(words("ab漢字cd", off) == Strings{"ab漢字cd"});
}

TEST_CASE("İ lowercases to i + U+0307, which accent stripping then removes") {
  for (const auto& options : {hf(), google()}) {
    CHECK(words("İstanbul", options) == Strings{"istanbul"});
    BertNormalizerOptions keep_accents = options;
    keep_accents.strip_accents = false;
    CHECK(words("İstanbul", keep_accents) == Strings{"i\u0307stanbul"});
  }
  CHECK(words("İstanbul", hf(false)) == Strings{"İstanbul"});
}

TEST_CASE("final sigma: Google lowercases with Python's str.lower(), HF character by character") {
  CHECK(words("ΟΔΥΣΣΕΥΣ", google()) == Strings{"οδυσσευς"});
  CHECK(words("ΟΔΥΣΣΕΥΣ", hf()) == Strings{"οδυσσευσ"});
  // The context is the whitespace token before punctuation is split off; a full stop is
  // case-ignorable, so it is looked through.
  CHECK(words("ΑΣ.", google()) == Strings{"ας", "."});
  CHECK(words("ΑΣ.Β", google()) == Strings{"ασ", ".", "β"});
  CHECK(words("ΑΣ ΣΑ Σ", google()) == Strings{"ας", "σα", "σ"});
  CHECK(words("ΑΣ.", hf()) == Strings{"ασ", "."});
  // Dropped controls are not in the token, spaces and CJK ideographs end it.
  CHECK(words("ΑΣ\001Β ΑΣ漢", google()) == Strings{"ασβ", "ας", "漢"});
  CHECK(words("ΑΣ", google(false)) == Strings{"ΑΣ"});
}

TEST_CASE("accent stripping: HF strips before lowercasing, Google after; only Final_Sigma can tell") {
  for (const auto& options : {hf(), google()}) {
    CHECK(words("École ÅNGSTRÖM", options) == Strings{"ecole", "angstrom"});
    CHECK(words("Ω\u2126\u212B", options) == Strings{"ωωa"});  // OHM and ANGSTROM SIGN decompose
  }
  // Google lowercases first, so Final_Sigma sees the accents (case-ignorable) around the sigma;
  // HF has stripped them and then lowercases without context.
  CHECK(words("ΑΣ\u0301", google()) == Strings{"ας"});
  CHECK(words("ΆΣ", google()) == Strings{"ας"});
  CHECK(words("ΑΣ\u0301", hf()) == Strings{"ασ"});
  CHECK(words("ΆΣ", hf()) == Strings{"ασ"});
  // strip_accents unset follows lowercase; set, it is independent of it.
  CHECK(words("Éa", hf(false)) == Strings{"Éa"});
  BertNormalizerOptions strip_only = hf(false);
  strip_only.strip_accents = true;
  CHECK(words("Éa", strip_only) == Strings{"Ea"});
  BertNormalizerOptions lower_only = hf();
  lower_only.strip_accents = false;
  CHECK(words("Éa", lower_only) == Strings{"éa"});
}

TEST_CASE("HF's Unicode tables predate the scripts utf8proc knows; their differences are kept") {
  // Punctuation added after HF's tables is not split off (U+2E43, Unicode 9); Google splits it.
  CHECK(words("a\u2E43b", hf()) == Strings{"a\u2E43b"});
  CHECK(words("a\u2E43b", google()) == Strings{"a", "\u2E43", "b"});
  // A nonspacing mark newer than HF's tables (U+1AC1, Unicode 14) survives its accent stripping.
  CHECK(words("a\u1AC1", hf()) == Strings{"a\u1AC1"});
  CHECK(words("a\u1AC1", google()) == Strings{"a"});
  // NFD reorders the spacing marks that stripping keeps: U+1D16D (class 226) goes after U+1D165 (216).
  CHECK(words("a\U0001D16D\U0001D165", hf()) == Strings{"a\U0001D165\U0001D16D"});
  CHECK(words("a\U0001D16D\u0301\U0001D165", google()) == Strings{"a\U0001D165\U0001D16D"});
}

TEST_CASE("punctuation: ASCII symbols and every Unicode P* character are words of their own") {
  for (const auto& options : {hf(), google()}) {
    CHECK(words("a$b^c`d~e", options) == Strings{"a", "$", "b", "^", "c", "`", "d", "~", "e"});
    CHECK(words("x!\"#%&'()*+,-./:;<=>?@[\\]_{|}y", options) ==
          Strings{"x", "!", "\"", "#", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";",
                  "<", "=", ">", "?", "@", "[", "\\", "]", "_", "{", "|", "}", "y"});
    CHECK(words("a¿b—c「d」e", options) == Strings{"a", "¿", "b", "—", "c", "「", "d", "」", "e"});
    // Symbols outside ASCII are not punctuation: currency (Sc), other (So).
    CHECK(words("a€b a©b", options) == Strings{"a€b", "a©b"});
    CHECK(words("  ...  ", options) == Strings{".", ".", "."});
    CHECK(words("", options).empty());
    CHECK(words(" \t\r\n ", options).empty());
  }
}

TEST_CASE("WordPiece: greedy longest match first, and a word with any unmatched rest is one [UNK]") {
  const Vocab vocab = small_vocab({"[UNK]", "ba", "##na", "b", "##a", "##n", "un", "##aff", "##able"});
  const WordPieceEncoder encoder(vocab, WordPieceOptions{});
  CHECK(pieces(encoder, vocab, "banana") == Strings{"ba", "##na", "##na"});
  CHECK(pieces(encoder, vocab, "unaffable") == Strings{"un", "##aff", "##able"});
  CHECK(pieces(encoder, vocab, "nanana") == Strings{"[UNK]"});  // no initial "na"
  CHECK(pieces(encoder, vocab, "bananax ban") == Strings{"[UNK]", "ba", "##n"});
  CHECK(pieces(WordPieceOptions{}, "unaffable x☃y hello") == Strings{"una", "##ffa", "##ble", "[UNK]", "hello"});
  WordPieceOptions plus;
  plus.continuing_prefix.assign(1, '+');  // not = "+": GCC 12 warns falsely (-Wrestrict) on that
  const Vocab plus_vocab = small_vocab({"[UNK]", "ba", "+na"});
  CHECK(pieces(WordPieceEncoder(plus_vocab, plus), plus_vocab, "banana") == Strings{"ba", "+na", "+na"});
}

TEST_CASE("cased and uncased") {
  CHECK(words("Héllo WORLD", hf(false)) == Strings{"Héllo", "WORLD"});
  CHECK(words("Héllo WORLD", hf()) == Strings{"hello", "world"});
  // bert-base-uncased has no upper-case pieces: encoded cased, capitals are unknown.
  CHECK(pieces(with_normalizer(hf(false)), "Hello hello") == Strings{"[UNK]", "hello"});
  CHECK(pieces(with_normalizer(hf()), "Hello hello") == Strings{"hello", "hello"});
}

TEST_CASE("max_input_chars_per_word: 100 (HF) or 200 (google-research/bert), counted in characters") {
  WordPieceOptions hf_limit, google_limit;
  google_limit.max_input_chars_per_word = 200;
  const uint32_t unk = bert_uncased().ids.at("[UNK]");
  const auto ends_in_unk = [&](const WordPieceOptions& options, std::string_view text) {
    std::vector<uint32_t> ids;
    WordPieceEncoder(bert_uncased(), options).encode(text, ids);
    REQUIRE(!ids.empty());
    return ids.back() == unk;
  };
  CHECK(!ends_in_unk(hf_limit, messy_line("long-99: ")));
  CHECK(!ends_in_unk(hf_limit, messy_line("long-100: ")));
  CHECK(ends_in_unk(hf_limit, messy_line("long-101: ")));
  CHECK(!ends_in_unk(google_limit, messy_line("long-101: ")));
  // 100 Cyrillic letters are 200 bytes: still short enough.
  std::string d100;
  for (int i = 0; i < 100; ++i) d100 += "д";
  CHECK(!ends_in_unk(hf_limit, d100));
  CHECK(ends_in_unk(hf_limit, d100 + "д"));
  // Counted after normalisation: 101 "é" are 101 "e" once accents are stripped.
  std::string e101;
  for (int i = 0; i < 101; ++i) e101 += "é";
  CHECK(ends_in_unk(hf_limit, e101));
  CHECK(!ends_in_unk(hf_limit, e101.substr(2)));
}

TEST_CASE("literal special tokens are text to the encoder (Tokenizer matches them when asked)") {
  CHECK(pieces(WordPieceOptions{}, "a[CLS]b [MASK]") == Strings{"a", "[", "cl", "##s", "]", "b", "[", "mask", "]"});
  CHECK(pieces(with_normalizer(google()), "a[CLS]b") == Strings{"a", "[", "cl", "##s", "]", "b"});
}

TEST_CASE("the encoder refuses vocabularies it cannot use") {
  CHECK_THROWS_AS(WordPieceEncoder(small_vocab({"a", "##b"}), WordPieceOptions{}), Error);
  WordPieceOptions unk;
  unk.unk_token = "<unk>";
  CHECK_THROWS_AS(WordPieceEncoder(bert_uncased(), unk), Error);
  CHECK_THROWS_AS(WordPieceEncoder(load_vocab("gpt2"), WordPieceOptions{}), Error);
}

TEST_CASE("encoders on one thread keep their cached words apart, and threads agree") {
  const Vocab small = small_vocab({"[UNK]", "un", "##aff", "##able"});
  const WordPieceEncoder big_encoder(bert_uncased(), WordPieceOptions{});
  const WordPieceEncoder small_encoder(small, WordPieceOptions{});
  for (int round = 0; round < 3; ++round) {
    CHECK(pieces(big_encoder, bert_uncased(), "unaffable") == Strings{"una", "##ffa", "##ble"});
    CHECK(pieces(small_encoder, small, "unaffable") == Strings{"un", "##aff", "##able"});
  }

  const std::vector<std::string> lines = split_lines(read_file(kDataDir / "wikitext2-test.txt"));
  const auto encode_all = [&](std::vector<uint32_t>& ids) {
    for (const std::string& line : lines) big_encoder.encode(line, ids);
  };
  std::vector<uint32_t> expected;
  encode_all(expected);
  std::vector<std::vector<uint32_t>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) threads.emplace_back([&] { encode_all(result); });
  for (auto& t : threads) t.join();
  for (const auto& result : results) CHECK(result == expected);
}
