#include "tok/vocab.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/paths.h"
#include "core/sha256.h"
#include "text/unicode.h"

namespace lmpipe::tok {
namespace fs = std::filesystem;
namespace {

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {}", path.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("{}: read failed", path.string()));
  return std::move(ss).str();
}

void add_token(Vocab& v, std::vector<bool>& seen, std::string token, uint32_t id, const std::string& file) {
  if (id >= v.tokens.size()) {
    v.tokens.resize(id + 1);
    seen.resize(id + 1);
  }
  if (seen[id] || !v.ids.emplace(token, id).second)
    throw Error(fmt::format("{}: token {} or id {} appears twice", file,
                            nlohmann::json(token).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), id));
  seen[id] = true;
  v.tokens[id] = std::move(token);
}

// Reads vocab.json's {"token": id, ...} straight into the vocabulary, without building a JSON tree of
// 50,000 entries first.
class VocabJsonReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  VocabJsonReader(Vocab& v, std::string name) : v_(v), name_(std::move(name)) {}
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool number_unsigned(number_unsigned_t id) override {
    if (depth_ != 1 || id > 0xFFFFFFFFull) return bad_value(std::to_string(id));
    add_token(v_, seen_, std::move(key_), uint32_t(id), name_);
    ++count_;
    return true;
  }
  bool start_object(std::size_t) override { return ++depth_ == 1 || bad_value("an object"); }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool null() override { return bad_value("null"); }
  bool boolean(bool) override { return bad_value("a boolean"); }
  bool number_integer(number_integer_t id) override { return bad_value(std::to_string(id)); }
  bool number_float(number_float_t, const string_t& s) override { return bad_value(s); }
  bool string(string_t&) override { return bad_value("a string"); }
  bool binary(binary_t&) override { return bad_value("binary"); }
  bool start_array(std::size_t) override { return bad_value("an array"); }
  bool end_array() override { return false; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    throw Error(fmt::format("{}: not a JSON object of token -> id (truncated or not JSON?)", name_));
  }
  size_t count() const { return count_; }

 private:
  bool bad_value(const std::string& what) {
    if (depth_ == 0) throw Error(fmt::format("{}: not a JSON object of token -> id (truncated or not JSON?)", name_));
    throw Error(fmt::format("{}: token {} has id {}, not an integer id", name_,
                            nlohmann::json(key_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), what));
  }

  Vocab& v_;
  std::string name_, key_;
  std::vector<bool> seen_;
  int depth_ = 0;
  size_t count_ = 0;
};

void load_vocab_json(Vocab& v, const fs::path& vocab_file, const fs::path& merges_file) {
  const std::string name = vocab_file.string();
  const std::string text = read_whole_file(vocab_file);
  v.kind = VocabKind::kByteLevelBpe;
  VocabJsonReader reader(v, name);
  nlohmann::json::sax_parse(text, &reader);
  if (reader.count() == 0) throw Error(fmt::format("{}: the vocabulary is empty", name));
  if (v.tokens.size() != reader.count()) {  // no id twice (add_token checks) but one too large: a gap
    for (uint32_t id = 0; id < v.tokens.size(); ++id)
      if (id >= reader.count() && !v.tokens[id].empty())
        throw Error(fmt::format("{}: token {} has id {}, not an integer from 0 to {}", name,
                                nlohmann::json(v.tokens[id]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                id, reader.count() - 1));
  }

  const std::string merges_name = merges_file.string();
  const std::string merges = read_whole_file(merges_file);
  size_t pos = 0, line_number = 0;
  while (pos < merges.size()) {
    size_t end = merges.find('\n', pos);
    if (end == std::string::npos) end = merges.size();
    std::string_view line(merges.data() + pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_number == 1 && line.starts_with("#version"))) continue;
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos)
      throw Error(fmt::format("{}:{}: a merge is two symbols separated by one space", merges_name, line_number));
    std::string a(line.substr(0, space)), b(line.substr(space + 1));
    std::array<uint32_t, 3> ids{};
    for (int k = 0; k < 2; ++k) {
      const auto it = v.ids.find(k == 0 ? a : b);
      if (it == v.ids.end())
        throw Error(fmt::format("{}:{}: symbol {} is not in {}", merges_name, line_number,
                                nlohmann::json(k == 0 ? a : b).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                vocab_file.filename().string()));
      ids[size_t(k)] = it->second;
    }
    const std::string merged = a + b;
    const auto it = v.ids.find(merged);
    if (it == v.ids.end())
      throw Error(fmt::format("{}:{}: the merged token {} is not in {}", merges_name, line_number,
                              nlohmann::json(merged).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                              vocab_file.filename().string()));
    ids[2] = it->second;
    v.merge_ids.push_back(ids);
    v.merges.emplace_back(std::move(a), std::move(b));
  }
}

void load_vocab_txt(Vocab& v, const fs::path& file) {
  const std::string name = file.string();
  const std::string text = read_whole_file(file);
  v.kind = VocabKind::kWordPiece;
  v.tokens.reserve(size_t(std::count(text.begin(), text.end(), '\n')) + 1);
  v.ids.reserve(v.tokens.capacity());
  size_t pos = 0;
  uint32_t id = 0;
  std::vector<bool> seen;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // as HuggingFace's reader does
    if (line.empty()) throw Error(fmt::format("{}:{}: empty line in a vocab.txt", name, id + 1));
    add_token(v, seen, std::string(line), id, name);
    ++id;
  }
  if (v.tokens.empty()) throw Error(fmt::format("{}: the vocabulary is empty", name));
}

}  // namespace

const std::vector<uint32_t>& byte_to_codepoint() {
  // GPT-2 encoder.py bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 to 256.. in order.
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

int codepoint_to_byte(uint32_t codepoint) {
  static const std::vector<int> table = [] {
    std::vector<int> t(512, -1);
    const auto& forward = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) t[forward[b]] = b;
    return t;
  }();
  return codepoint < table.size() ? table[codepoint] : -1;
}

std::map<std::string, uint32_t> Vocab::special_ids() const {
  static const std::pair<const char*, const char*> kRoles[] = {
      {"<|endoftext|>", "eot"}, {"[CLS]", "cls"}, {"[SEP]", "sep"}, {"[MASK]", "mask"}, {"[PAD]", "pad"},
      {"[UNK]", "unk"},         {"<s>", "bos"},   {"</s>", "eos"},  {"<pad>", "pad"},   {"<unk>", "unk"},
      {"<mask>", "mask"}};
  std::map<std::string, uint32_t> out;
  for (const auto& [token, role] : kRoles) {
    const auto it = ids.find(token);
    if (it != ids.end()) out.emplace(role, it->second);
  }
  return out;
}

std::string Vocab::token_bytes(uint32_t id) const {
  const std::string& token = tokens.at(id);
  if (kind == VocabKind::kWordPiece) return token.starts_with("##") ? token.substr(2) : token;
  std::string out;
  const auto* p = reinterpret_cast<const uint8_t*>(token.data());
  for (size_t i = 0; i < token.size();) {
    const text::Decoded d = text::decode_utf8(p + i, token.size() - i);
    const int b = d.cp == text::kInvalid ? -1 : codepoint_to_byte(d.cp);
    if (b < 0) return token;  // not byte-level: an added special token such as <|endoftext|>
    out += char(b);
    i += d.len;
  }
  return out;
}

std::string Vocab::decode(std::span<const uint32_t> ids_to_decode) const {
  std::string out;
  for (uint32_t id : ids_to_decode) {
    if (kind == VocabKind::kWordPiece) {
      const std::string& token = tokens.at(id);
      if (token.starts_with("##")) {
        out += std::string_view(token).substr(2);
        continue;
      }
      if (!out.empty()) out += ' ';
      out += token;
    } else {
      out += token_bytes(id);
    }
  }
  return out;
}

std::string vocab_fingerprint(const Vocab& v) {
  Sha256 h;
  h.update(v.kind == VocabKind::kByteLevelBpe ? "lmpipe vocab 1 bpe\n" : "lmpipe vocab 1 wordpiece\n");
  const auto field = [&](const std::string& s) {
    const uint32_t n = uint32_t(s.size());
    h.update(&n, 4);
    h.update(s);
  };
  for (const std::string& t : v.tokens) field(t);
  for (const auto& [a, b] : v.merges) {
    field(a);
    field(b);
  }
  return "sha256:" + h.hex_digest();
}

Vocab load_vocab(const std::string& spec) {
  std::error_code ec;
  fs::path dir, file;
  if (fs::is_directory(spec, ec)) {
    dir = spec;
  } else if (fs::is_regular_file(spec, ec)) {
    file = spec;
  } else if (spec.find('/') == std::string::npos && !spec.empty()) {
    const std::string share = find_share_dir();
    if (!share.empty() && fs::is_directory(fs::path(share) / "vocab" / spec, ec)) dir = fs::path(share) / "vocab" / spec;
  }
  if (dir.empty() && file.empty())
    throw Error(fmt::format("vocabulary {} not found: give a directory, a vocab file, or a name under {}/vocab", spec,
                            find_share_dir().empty() ? std::string("share") : find_share_dir()));

  Vocab v;
  v.source = dir.empty() ? file.string() : dir.string();
  const auto exists = [&](const fs::path& p) { return fs::is_regular_file(p, ec); };
  if (!dir.empty()) {
    if (exists(dir / "vocab.json") && exists(dir / "merges.txt")) {
      load_vocab_json(v, dir / "vocab.json", dir / "merges.txt");
    } else if (exists(dir / "encoder.json") && exists(dir / "vocab.bpe")) {
      load_vocab_json(v, dir / "encoder.json", dir / "vocab.bpe");
    } else if (exists(dir / "vocab.txt")) {
      load_vocab_txt(v, dir / "vocab.txt");
    } else {
      throw Error(fmt::format("{}: no vocab.json + merges.txt, encoder.json + vocab.bpe or vocab.txt there", dir.string()));
    }
  } else if (file.extension() == ".json") {
    const fs::path merges = file.parent_path() / (file.filename() == "encoder.json" ? "vocab.bpe" : "merges.txt");
    if (!exists(merges)) throw Error(fmt::format("{}: no {} beside it", file.string(), merges.filename().string()));
    load_vocab_json(v, file, merges);
  } else {
    load_vocab_txt(v, file);
  }
  v.fingerprint = vocab_fingerprint(v);
  return v;
}

}  // namespace lmpipe::tok
