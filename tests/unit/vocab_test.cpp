// lib/tok/vocab: loading the shipped vocabularies, fingerprints, decoding, and bad files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tok/vocab.h"

using namespace lmpipe;
using namespace lmpipe::tok;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const char* name) {
  const fs::path dir = fs::temp_directory_path() / (std::string("lmpipe-vocab-") + std::to_string(::getpid()) + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// The message load_vocab gives for dir, or "" when it loads.
std::string load_error(const fs::path& dir) {
  try {
    load_vocab(dir.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the shipped GPT-2 vocabulary") {
  const Vocab v = load_vocab("gpt2");
  CHECK(v.kind == VocabKind::kByteLevelBpe);
  CHECK(v.size() == 50257);
  CHECK(v.merges.size() == 50000);
  CHECK(v.merges[0] == std::pair<std::string, std::string>("\xC4\xA0", "t"));  // "Ġ t"
  CHECK(v.special_ids() == std::map<std::string, uint32_t>{{"eot", 50256}});
  CHECK(v.tokens[464] == "The");
  CHECK(v.token_bytes(262) == " the");  // "Ġthe"
  CHECK(v.token_bytes(198) == "\n");    // "Ċ"
  CHECK(v.token_bytes(50256) == "<|endoftext|>");
  const std::vector<uint32_t> ids = {464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13};
  CHECK(v.decode(ids) == "The quick brown fox jumps over the lazy dog.");
  // Every single byte is a token of its own, and decodes to that byte.
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = byte_to_codepoint()[size_t(b)];
    CHECK(codepoint_to_byte(cp) == b);
  }
  CHECK(v.fingerprint.starts_with("sha256:"));
  CHECK(v.fingerprint.size() == 7 + 64);
}

TEST_CASE("the shipped bert-base-uncased vocabulary") {
  const Vocab v = load_vocab("bert-base-uncased");
  CHECK(v.kind == VocabKind::kWordPiece);
  CHECK(v.size() == 30522);
  CHECK(v.special_ids() ==
        std::map<std::string, uint32_t>{{"cls", 101}, {"mask", 103}, {"pad", 0}, {"sep", 102}, {"unk", 100}});
  const std::vector<uint32_t> ids = {7592, 2088, 999, 2023, 2003, 2019, 14925, 2075};  // hello world ! this is an ec ##ing
  CHECK(v.decode(ids).starts_with("hello world ! this is an"));
  CHECK(v.token_bytes(2075) == v.tokens[2075].substr(2));
}

TEST_CASE("the fingerprint is the vocabulary's, not the files' bytes or names") {
  const fs::path dir = fresh_dir("fp");
  write(dir / "vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  write(dir / "merges.txt", "#version: 0.2\na b\n");
  const Vocab v = load_vocab(dir.string());
  fs::create_directories(dir / "gpt2-names");
  write(dir / "gpt2-names" / "encoder.json", "{\n  \"ab\": 2,\n  \"a\": 0,\n  \"b\": 1\n}\n");
  write(dir / "gpt2-names" / "vocab.bpe", "#version: 0.2\r\na b\r\n");
  CHECK(load_vocab((dir / "gpt2-names").string()).fingerprint == v.fingerprint);
  CHECK(load_vocab((dir / "vocab.json").string()).fingerprint == v.fingerprint);
  write(dir / "merges.txt", "#version: 0.2\n");
  CHECK(load_vocab(dir.string()).fingerprint != v.fingerprint);
  fs::remove_all(dir);
}

TEST_CASE("bad vocabulary files are one clear error naming the file") {
  const fs::path dir = fresh_dir("bad");
  const auto error = [&](const std::string& json, const std::string& merges) {
    write(dir / "vocab.json", json);
    write(dir / "merges.txt", merges);
    return load_error(dir);
  };
  const std::string vocab = (dir / "vocab.json").string(), merges = (dir / "merges.txt").string();
  CHECK(error(R"({"a": 0, "b": )", "") == vocab + ": not a JSON object of token -> id (truncated or not JSON?)");
  // Cut inside a number: "c" would get id 1, which "b" has; the file is cut, not a duplicate.
  CHECK(error(R"({"a": 0, "b": 1, "c": 1)", "") == vocab + ": not a JSON object of token -> id (truncated or not JSON?)");
  CHECK(error("{}", "") == vocab + ": the vocabulary is empty");
  CHECK(error(R"({"a": 0, "b": 2})", "") == vocab + ": token \"b\" has id 2, not an integer from 0 to 1");
  CHECK(error(R"({"a": 0, "b": 0})", "") == vocab + ": token \"b\" or id 0 appears twice");
  // An id no file of this size can reach is refused before it sizes the token table (it would ask for
  // 128 GiB).
  CHECK(error(R"({"a": 0, "b": 4000000000})", "") ==
        vocab + ": token \"b\" has id 4000000000, past the 25 tokens the file can define");
  CHECK(error(R"({"a": 0, "b": 1})", "#version: 0.2\na b c\n") == merges + ":2: a merge is two symbols separated by one space");
  CHECK(error(R"({"a": 0, "b": 1})", "ab\n") == merges + ":1: a merge is two symbols separated by one space");
  fs::remove(dir / "vocab.json");
  fs::remove(dir / "merges.txt");
  write(dir / "vocab.txt", "[PAD]\n\n[UNK]\n");
  CHECK_THROWS_WITH_AS(load_vocab(dir.string()), doctest::Contains("vocab.txt:2: empty line"), Error);
  write(dir / "vocab.txt", "a\nb\na\n");
  CHECK_THROWS_WITH_AS(load_vocab(dir.string()), doctest::Contains("token \"a\" or id 2 appears twice"), Error);
  fs::remove(dir / "vocab.txt");
  // tokenizer.json: ids past what the file defines (or past 2^32, which would wrap), and fields of the
  // wrong type, are one clear error rather than a huge table or a JSON library exception.
  const auto tokenizer_json_error = [&](const std::string& json) {
    write(dir / "tokenizer.json", json);
    return load_error(dir);
  };
  const std::string tj = (dir / "tokenizer.json").string();
  const std::string wordpiece = R"("model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1}})";
  CHECK(tokenizer_json_error("{" + wordpiece + "}").empty());
  CHECK(tokenizer_json_error(R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 4294967297}}})") ==
        tj + ": token \"a\" has id 4294967297, past the 2 tokens the file can define");
  CHECK(tokenizer_json_error(R"({"added_tokens": [{"id": "x", "content": "[SEP]"}], )" + wordpiece + "}") ==
        tj + ": added token {\"content\":\"[SEP]\",\"id\":\"x\"}: needs an integer id and a string content");
  CHECK(tokenizer_json_error(R"({"added_tokens": 7, )" + wordpiece + "}") == tj + ": added_tokens is not a list");
  CHECK(tokenizer_json_error(R"({"model": {"type": 1, "vocab": {"a": 0}}})") == tj + ": \"type\" is not a string");
  CHECK_THROWS_WITH_AS(load_vocab("no-such-vocab"), doctest::Contains("vocabulary no-such-vocab not found"), Error);
  fs::remove_all(dir);
}
