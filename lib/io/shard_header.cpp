#include "io/shard_header.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/crc32c.h"
#include "core/error.h"
#include "lmpipe/version.h"

namespace lmpipe::io {
namespace {

const char* const kKnownKeys[] = {"kind", "dtype", "vocab_size", "vocab_fingerprint", "special_ids", "provenance"};
constexpr uint8_t kMmidIdxMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};
constexpr uint8_t kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

// What the first bytes of something that is not a shard look like, for the error message.
std::string not_a_shard(const uint8_t* bytes, size_t size) {
  if (size >= 9 && std::memcmp(bytes, kMmidIdxMagic, 9) == 0)
    return "not an lmpipe shard: this is a fairseq/Megatron MMIDIDX index file";
  if (size >= 4 && std::memcmp(bytes, kZstdMagic, 4) == 0)
    return "not an lmpipe shard: this is a zstd-compressed file (decompress it first?)";
  if (size < kMagic.size() && std::memcmp(bytes, kMagic.data(), size) == 0)
    return fmt::format("truncated shard: the input ends inside the magic bytes ({} of {})", size, kMagic.size());
  return "not an lmpipe shard (wrong magic bytes)";
}

}  // namespace

uint32_t parse_header_prefix(const uint8_t* prefix, size_t got) {
  if (got < kMagic.size() || std::memcmp(prefix, kMagic.data(), kMagic.size()) != 0)
    throw FormatError(0, not_a_shard(prefix, got));
  if (got < kHeaderPrefixSize)
    throw FormatError(0, fmt::format("truncated shard: the input ends inside the header ({} of {} bytes)", got,
                                     kHeaderPrefixSize));
  const uint32_t version = load_u32(prefix + 8);
  if (version != kVersion)
    throw FormatError(8, fmt::format("unsupported shard format version {} (this program reads version {})", version,
                                     kVersion));
  const uint32_t json_size = load_u32(prefix + 12);
  if (json_size == 0 || json_size > kMaxHeaderJson)
    throw FormatError(12, fmt::format("header JSON size {} is not between 1 and {}", json_size, kMaxHeaderJson));
  return json_size;
}

ShardHeader parse_header_body(const uint8_t* prefix, std::span<const uint8_t> json_and_crc) {
  const size_t json_size = json_and_crc.size() - 4;
  uint32_t crc = crc32c(prefix + 8, 8);
  crc = crc32c(json_and_crc.data(), json_size, crc);
  if (crc != load_u32(json_and_crc.data() + json_size)) throw FormatError(0, "header checksum mismatch");
  try {
    return ShardHeader::from_json(std::string_view(reinterpret_cast<const char*>(json_and_crc.data()), json_size));
  } catch (const FormatError&) {
    throw;
  } catch (const Error& e) {
    throw FormatError(kHeaderPrefixSize, e.what());
  }
}

std::string ShardHeader::to_json() const {
  nlohmann::json j = extra;
  j["kind"] = kind_name(kind);
  j["dtype"] = dtype_name(dtype);
  j["vocab_size"] = vocab_size;
  j["vocab_fingerprint"] = vocab_fingerprint;
  j["special_ids"] = special_ids;
  j["provenance"] = provenance;
  // Arguments are bytes from argv and may not be UTF-8; replace rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ShardHeader ShardHeader::from_json(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error("header is not valid JSON");
  if (!j.is_object()) throw Error("header JSON is not an object");
  ShardHeader h;
  const auto field = [&](const char* key) -> const nlohmann::json& {
    const auto it = j.find(key);
    if (it == j.end()) throw Error(fmt::format("header has no \"{}\"", key));
    return *it;
  };
  const auto& kind = field("kind");
  if (!kind.is_string() || !parse_kind(kind.get<std::string>()))
    throw Error(fmt::format("header kind {} is not docs, pairs, windows or masked", kind.dump()));
  h.kind = *parse_kind(kind.get<std::string>());
  const auto& dtype = field("dtype");
  if (!dtype.is_string() || !parse_dtype(dtype.get<std::string>()))
    throw Error(fmt::format("header dtype {} is not u16 or u32", dtype.dump()));
  h.dtype = *parse_dtype(dtype.get<std::string>());
  const auto& vocab = field("vocab_size");
  if (!vocab.is_number_unsigned() || vocab.get<uint64_t>() == 0 || vocab.get<uint64_t>() > 0xFFFFFFFFull)
    throw Error(fmt::format("header vocab_size {} is not an integer from 1 to 4294967295", vocab.dump()));
  h.vocab_size = vocab.get<uint32_t>();
  if (h.dtype == TokenDtype::kU16 && h.vocab_size > 65536)
    throw Error(fmt::format("header dtype u16 cannot hold ids of a vocabulary of {}", h.vocab_size));
  const auto& fingerprint = field("vocab_fingerprint");
  if (!fingerprint.is_string()) throw Error("header vocab_fingerprint is not a string");
  h.vocab_fingerprint = fingerprint.get<std::string>();
  const auto& specials = field("special_ids");
  if (!specials.is_object()) throw Error("header special_ids is not an object");
  for (const auto& [role, id] : specials.items()) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() >= h.vocab_size)
      throw Error(fmt::format("header special id {}={} is not an id below vocab size {}", role, id.dump(),
                              h.vocab_size));
    h.special_ids[role] = id.get<uint32_t>();
  }
  const auto& provenance = field("provenance");
  if (!provenance.is_object()) throw Error("header provenance is not an object");
  h.provenance = provenance;
  for (const auto& [key, value] : j.items())
    if (std::find(std::begin(kKnownKeys), std::end(kKnownKeys), key) == std::end(kKnownKeys)) h.extra[key] = value;
  return h;
}

ShardHeader ShardHeader::make(RecordKind kind, uint32_t vocab_size, std::string vocab_fingerprint) {
  ShardHeader h;
  h.kind = kind;
  h.vocab_size = vocab_size;
  h.dtype = dtype_for_vocab(vocab_size);
  h.vocab_fingerprint = std::move(vocab_fingerprint);
  return h;
}

nlohmann::json make_provenance(std::string_view program, const std::vector<std::string>& args, uint64_t seed,
                               const std::vector<nlohmann::json>& parents) {
  nlohmann::json p = nlohmann::json::object();
  // The command line without the flags that cannot change the output (--threads, --quiet, --progress),
  // so that a shard is the same bytes on any thread count.
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--threads") {
      ++i;
      continue;
    }
    if (a.starts_with("--threads=") || a == "--quiet" || a == "-q" || a == "--progress") continue;
    kept.push_back(a);
  }
  p["program"] = program;
  p["version"] = LMPIPE_VERSION;
  p["args"] = kept;
  p["seed"] = seed;
  p["parents"] = parents;
  return p;
}

}  // namespace lmpipe::io
