// Byte-level BPE: GPT-2's pre-tokenizer and merges, against tiktoken's ids (tests/data/tok/*.gpt2.ids),
// an independent merge loop written the way GPT-2's encoder.py does it, and the lossless round trip.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "core/error.h"
#include "text/gpt2_pretokenizer.h"
#include "tok/bpe.h"
#include "tok/vocab.h"

using namespace lmpipe;
using namespace lmpipe::tok;

namespace {

const Vocab& gpt2() {
  static const Vocab v = load_vocab("gpt2");
  return v;
}

const BpeEncoder& encoder() {
  static const BpeEncoder e(gpt2());
  return e;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < all.size()) {
    const size_t end = all.find('\n', pos);
    lines.push_back(all.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

std::vector<uint32_t> encode(std::string_view text) {
  BpeCache cache;
  std::vector<uint32_t> ids;
  encoder().encode(text, ids, cache);
  return ids;
}

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  text::gpt2_split(text, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

// GPT-2 encoder.py's bpe(): merge every occurrence of the best-ranked bigram, left to right, until
// none is ranked; on the byte-level symbols as strings.
std::vector<uint32_t> naive_bpe(std::string_view piece) {
  static const std::map<std::pair<std::string, std::string>, size_t> ranks = [] {
    std::map<std::pair<std::string, std::string>, size_t> r;
    for (size_t i = 0; i < gpt2().merges.size(); ++i) r.emplace(gpt2().merges[i], i);
    return r;
  }();
  std::vector<std::string> word;
  for (unsigned char c : piece) {
    std::string symbol;
    const uint32_t cp = byte_to_codepoint()[c];
    symbol = cp < 0x80 ? std::string(1, char(cp)) : std::string{char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
    word.push_back(symbol);
  }
  for (;;) {
    size_t best = SIZE_MAX;
    std::pair<std::string, std::string> bigram;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      const auto it = ranks.find({word[i], word[i + 1]});
      if (it != ranks.end() && it->second < best) {
        best = it->second;
        bigram = it->first;
      }
    }
    if (best == SIZE_MAX) break;
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == bigram.first && word[i + 1] == bigram.second) {
        merged.push_back(bigram.first + bigram.second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  std::vector<uint32_t> ids;
  for (const auto& s : word) ids.push_back(gpt2().ids.at(s));
  return ids;
}

}  // namespace

TEST_CASE("GPT-2 pre-tokenizer splits as the regex does") {
  using V = std::vector<std::string>;
  CHECK(pieces("Hello world") == V{"Hello", " world"});
  CHECK(pieces("I'm don't 'S they'll") == V{"I", "'m", " don", "'t", " '", "S", " they", "'ll"});
  CHECK(pieces("a  b") == V{"a", " ", " b"});
  CHECK(pieces("a   \n\nb") == V{"a", "   \n", "\n", "b"});
  CHECK(pieces("x\n") == V{"x", "\n"});
  CHECK(pieces("end   ") == V{"end", "   "});
  CHECK(pieces("12,345.6") == V{"12", ",", "345", ".", "6"});
  CHECK(pieces(" !!!?? ok") == V{" !!!??", " ok"});
  CHECK(pieces("\t\tfoo") == V{"\t", "\t", "foo"});
  CHECK(pieces("caf\xC3\xA9 na\xC3\xAFve") == V{"caf\xC3\xA9", " na\xC3\xAFve"});
  CHECK(pieces("e\xCC\x81") == V{"e", "\xCC\x81"});  // a combining mark is not a letter
  CHECK(pieces("\xE3\x80\x80\xE3\x80\x80x") == V{"\xE3\x80\x80", "\xE3\x80\x80", "x"});  // U+3000 ideographic space
  CHECK(pieces("a\xFF\xFE!b") == V{"a", "\xFF\xFE!", "b"});  // invalid bytes are symbols
  CHECK(pieces(std::string("a\0b", 3)) == V{"a", std::string("\0", 1), "b"});
  CHECK(pieces("") == V{});
}

TEST_CASE("GPT-2 ids equal tiktoken's on the data samples") {
  for (const char* name : {"tinyshakespeare", "wikitext2-valid", "wikitext2-test", "bench-corpus", "messy"}) {
    CAPTURE(name);
    const auto text = read_lines(std::string(LMPIPE_TEST_DATA_DIR) + "/tok/" + name + ".txt");
    const auto refs = read_lines(std::string(LMPIPE_TEST_DATA_DIR) + "/tok/" + name + ".gpt2.ids");
    REQUIRE(text.size() == refs.size());
    size_t compared = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      const std::vector<uint32_t> ids = encode(text[i]);
      CHECK(gpt2().decode(ids) == text[i]);  // lossless, also for lines that are not UTF-8
      if (refs[i] == "-") continue;
      std::vector<uint32_t> want;
      std::istringstream in(refs[i]);
      for (uint32_t id; in >> id;) want.push_back(id);
      CAPTURE(i);
      CAPTURE(text[i]);
      CHECK(ids == want);
      ++compared;
    }
    CHECK(compared > 0);
  }
}

TEST_CASE("long pieces merge exactly as GPT-2's encoder does") {
  std::mt19937 rng(5);
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
  for (int round = 0; round < 40; ++round) {
    std::string piece;
    const size_t len = 65 + rng() % 400;  // beyond the short-piece path
    for (size_t i = 0; i < len; ++i) piece += letters[rng() % (round % 2 ? 4 : letters.size())];
    std::vector<uint32_t> ids;
    encoder().encode_piece(piece, ids);
    CHECK(ids == naive_bpe(piece));
  }
  std::vector<uint32_t> ids;
  encoder().encode_piece(std::string(5000, 'a'), ids);
  CHECK(ids == naive_bpe(std::string(5000, 'a')));
}

TEST_CASE("any byte string round-trips") {
  std::mt19937 rng(11);
  for (int round = 0; round < 300; ++round) {
    std::string bytes(rng() % 200, '\0');
    for (char& c : bytes) c = char(round % 3 == 0 ? rng() % 256 : " \n\tab'1\xC3\xA9\xFF"[rng() % 11]);
    CHECK(gpt2().decode(encode(bytes)) == bytes);
  }
}

TEST_CASE("merges that name unknown symbols are refused") {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("lmpipe-bpe-test-" + std::to_string(std::random_device{}()))).string();
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/vocab.json") << R"({"a": 0, "b": 1, "ab": 2})";
  std::ofstream(dir + "/merges.txt") << "#version: 0.2\na c\n";
  CHECK_THROWS_WITH_AS(load_vocab(dir), doctest::Contains("merges.txt:2: symbol \"c\" is not in vocab.json"), Error);
  std::ofstream(dir + "/merges.txt") << "#version: 0.2\nb a\n";
  CHECK_THROWS_WITH_AS(load_vocab(dir), doctest::Contains("merges.txt:2: the merged token \"ba\" is not in vocab.json"), Error);
  std::ofstream(dir + "/merges.txt") << "#version: 0.2\na b\n";
  CHECK_THROWS_WITH_AS(BpeEncoder{load_vocab(dir)}, doctest::Contains("no token for byte"), Error);
  std::filesystem::remove_all(dir);
}
