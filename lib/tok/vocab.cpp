#include "tok/vocab.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/input_file.h"
#include "core/paths.h"
#include "core/sha256.h"
#include "text/unicode.h"

namespace lmpipe::tok {
namespace fs = std::filesystem;
namespace {

std::string json_quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Places token at id. A file that defines n tokens has ids below n; limit is n, or a bound on it, so that
// a wild id is refused before it sizes the table.
void add_token(Vocab& v, std::vector<bool>& seen, std::string token, uint64_t id, uint64_t limit,
               const std::string& file) {
  if (id >= limit)
    throw Error(fmt::format("{}: token {} has id {}, past the {} tokens the file can define", file, json_quoted(token),
                            id, limit));
  if (id >= v.tokens.size()) {
    v.tokens.resize(id + 1);
    seen.resize(id + 1);
  }
  if (seen[id] || !v.ids.emplace(token, uint32_t(id)).second)
    throw Error(fmt::format("{}: token {} or id {} appears twice", file, json_quoted(token), id));
  seen[id] = true;
  v.tokens[id] = std::move(token);
}

// Appends merge (a, b) after checking that both symbols and their concatenation are tokens. where
// names the place for messages ("merges.txt:12"), vocab_name the file the tokens come from.
void add_merge(Vocab& v, std::string a, std::string b, const std::string& where, const std::string& vocab_name) {
  std::array<uint32_t, 3> ids{};
  for (int k = 0; k < 2; ++k) {
    const auto it = v.ids.find(k == 0 ? a : b);
    if (it == v.ids.end())
      throw Error(fmt::format("{}: symbol {} is not in {}", where, json_quoted(k == 0 ? a : b), vocab_name));
    ids[size_t(k)] = it->second;
  }
  const auto it = v.ids.find(a + b);
  if (it == v.ids.end()) throw Error(fmt::format("{}: the merged token {} is not in {}", where, json_quoted(a + b), vocab_name));
  ids[2] = it->second;
  v.merge_ids.push_back(ids);
  v.merges.emplace_back(std::move(a), std::move(b));
}

// Reads vocab.json's {"token": id, ...} straight into the vocabulary, without building a JSON tree of
// 50,000 entries first.
class VocabJsonReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  // An entry takes at least 4 bytes ("":0), so a file of n bytes defines fewer than n tokens.
  VocabJsonReader(Vocab& v, std::string name, uint64_t file_size) : v_(v), name_(std::move(name)), limit_(file_size) {}
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool number_unsigned(number_unsigned_t id) override {
    if (depth_ != 1) return bad_value(std::to_string(id));
    add_token(v_, seen_, std::move(key_), id, limit_, name_);
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
  uint64_t limit_;
  std::vector<bool> seen_;
  int depth_ = 0;
  size_t count_ = 0;
};

void load_vocab_json(Vocab& v, const fs::path& vocab_file, const fs::path& merges_file) {
  const std::string name = vocab_file.string();
  const std::string text = read_file(vocab_file.string());
  v.kind = VocabKind::kByteLevelBpe;
  v.tokens.reserve(text.size() / 16);  // about 20 bytes an entry: no rehashing while loading
  v.ids.reserve(text.size() / 16);
  // The whole text must be JSON before any entry counts: a file cut inside a number would otherwise
  // give an entry a wrong id, reported as a token that appears twice.
  if (!nlohmann::json::accept(text))
    throw Error(fmt::format("{}: not a JSON object of token -> id (truncated or not JSON?)", name));
  VocabJsonReader reader(v, name, text.size());
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
  const std::string merges = read_file(merges_file.string());
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
    add_merge(v, std::string(line.substr(0, space)), std::string(line.substr(space + 1)),
              fmt::format("{}:{}", merges_name, line_number), vocab_file.filename().string());
  }
}

void load_vocab_txt(Vocab& v, const fs::path& file) {
  const std::string name = file.string();
  const std::string text = read_file(file.string());
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
    add_token(v, seen, std::string(line), id, UINT32_MAX, name);
    ++id;
  }
  if (v.tokens.empty()) throw Error(fmt::format("{}: the vocabulary is empty", name));
}

// HuggingFace's tokenizer.json: a byte-level BPE or a WordPiece model, with the added tokens.
void load_tokenizer_json(Vocab& v, const fs::path& file) {
  const std::string name = file.string();
  const nlohmann::json j = nlohmann::json::parse(read_file(file.string()), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("model") || !j["model"].is_object())
    throw Error(fmt::format("{}: not a tokenizer.json (no \"model\" object)", name));
  const nlohmann::json& model = j["model"];
  // A field that, when present, must be a string.
  const auto text_field = [&](const nlohmann::json& object, const char* key, const char* otherwise) {
    const auto it = object.find(key);
    if (it == object.end()) return std::string(otherwise);
    if (!it->is_string()) throw Error(fmt::format("{}: \"{}\" is not a string", name, key));
    return it->get<std::string>();
  };
  const std::string type = text_field(model, "type", model.contains("merges") ? "BPE" : "WordPiece");
  if (type != "BPE" && type != "WordPiece")
    throw Error(fmt::format("{}: model type {} is not BPE or WordPiece", name, json_quoted(type)));
  if (type == "BPE") {
    const nlohmann::json& pre = j.value("pre_tokenizer", nlohmann::json());
    if (!pre.is_object() || text_field(pre, "type", "") != "ByteLevel")
      throw Error(fmt::format("{}: only byte-level BPE (a ByteLevel pre_tokenizer) is supported", name));
  }
  v.kind = type == "BPE" ? VocabKind::kByteLevelBpe : VocabKind::kWordPiece;
  if (!model.contains("vocab") || !model["vocab"].is_object() || model["vocab"].empty())
    throw Error(fmt::format("{}: the model has no vocab", name));
  const nlohmann::json& added_tokens = j.value("added_tokens", nlohmann::json::array());
  if (!added_tokens.is_array()) throw Error(fmt::format("{}: added_tokens is not a list", name));
  const uint64_t limit = model["vocab"].size() + added_tokens.size();
  std::vector<bool> seen;
  for (const auto& [token, id] : model["vocab"].items()) {
    if (!id.is_number_unsigned()) throw Error(fmt::format("{}: token {} has id {}, not an integer id", name, json_quoted(token), id.dump()));
    add_token(v, seen, token, id.get<uint64_t>(), limit, name);
  }
  // Added tokens (specials) may lie beyond the model's vocab.
  for (const auto& added : added_tokens) {
    if (!added.is_object() || !added.contains("id") || !added.contains("content")) continue;
    if (!added["id"].is_number_unsigned() || !added["content"].is_string())
      throw Error(fmt::format("{}: added token {}: needs an integer id and a string content", name,
                              added.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    const uint64_t id = added["id"].get<uint64_t>();
    const std::string content = added["content"].get<std::string>();
    if (id < v.tokens.size() && seen[id]) {
      if (v.tokens[id] != content)
        throw Error(fmt::format("{}: added token {} has id {}, which is {}", name, json_quoted(content), id, json_quoted(v.tokens[id])));
      continue;
    }
    add_token(v, seen, content, id, limit, name);
  }
  for (uint32_t id = 0; id < v.tokens.size(); ++id)
    if (!seen[id]) throw Error(fmt::format("{}: no token has id {}", name, id));
  if (type == "BPE") {
    size_t rank = 0;
    for (const auto& merge : model.value("merges", nlohmann::json::array())) {
      const std::string where = fmt::format("{}: merge {}", name, rank++);
      if (merge.is_string()) {  // the legacy "a b" form
        const std::string m = merge.get<std::string>();
        const size_t space = m.find(' ');
        if (space == std::string::npos || m.find(' ', space + 1) != std::string::npos)
          throw Error(where + ": a merge is two symbols separated by one space");
        add_merge(v, m.substr(0, space), m.substr(space + 1), where, name);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        add_merge(v, merge[0].get<std::string>(), merge[1].get<std::string>(), where, name);
      } else {
        throw Error(where + ": not \"a b\" or [\"a\", \"b\"]");
      }
    }
  }
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

std::vector<uint32_t> Vocab::added_token_ids() const {
  std::vector<uint32_t> out;
  // HuggingFace's tokenizer.json lists them; the vocabulary's own, or one beside its files.
  std::error_code ec;
  const fs::path listing = fs::is_directory(source, ec) ? fs::path(source) / "tokenizer.json" : fs::path(source);
  if (listing.filename() == "tokenizer.json" && fs::is_regular_file(listing, ec)) {
    // The top level's added_tokens alone are kept: the model's vocabulary and merges, most of the file,
    // are read past without building them.
    const auto added_tokens_only = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      return !(depth == 1 && event == nlohmann::json::parse_event_t::key && parsed != "added_tokens");
    };
    const nlohmann::json j = nlohmann::json::parse(read_file(listing.string()), added_tokens_only, false);
    const auto added = j.is_object() ? j.find("added_tokens") : j.end();
    if (!j.is_object() || added == j.end() || !added->is_array())
      throw Error(fmt::format("{}: no list of added_tokens", listing.string()));
    for (const auto& token : *added) {
      if (!token.is_object() || !token.contains("content") || !token["content"].is_string()) continue;
      const auto it = ids.find(token["content"].get<std::string>());
      if (it != ids.end() && !tokens[it->second].empty()) out.push_back(it->second);
    }
  } else if (kind == VocabKind::kWordPiece) {
    for (const auto& [role, id] : special_ids()) out.push_back(id);
  } else {
    std::vector<bool> from_text(tokens.size(), false);
    for (uint32_t codepoint : byte_to_codepoint()) {
      std::string symbol;
      text::append_utf8(symbol, codepoint);
      const auto it = ids.find(symbol);
      if (it != ids.end()) from_text[it->second] = true;
    }
    for (const auto& merge : merge_ids) from_text[merge[2]] = true;
    for (uint32_t id = 0; id < size(); ++id)
      if (!from_text[id] && !tokens[id].empty()) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
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
    } else if (exists(dir / "tokenizer.json")) {
      load_tokenizer_json(v, dir / "tokenizer.json");
    } else {
      throw Error(fmt::format("{}: no vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt or tokenizer.json there",
                              dir.string()));
    }
  } else if (file.filename() == "tokenizer.json") {
    load_tokenizer_json(v, file);
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
