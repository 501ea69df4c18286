#pragma once
// A shard's JSON header: what the records are, which vocabulary their ids index, and where they came from.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

#include "io/shard_format.h"

namespace lmpipe::io {

struct ShardHeader {
  RecordKind kind = RecordKind::kDocs;
  TokenDtype dtype = TokenDtype::kU16;
  uint32_t vocab_size = 0;
  std::string vocab_fingerprint;                // "sha256:<64 hex>", or "" when unknown
  std::map<std::string, uint32_t> special_ids;  // role -> id: "eot", "cls", "sep", "mask", "pad", "unk", "bos", "eos"
  nlohmann::json provenance = nlohmann::json::object();  // program, version, args, seed, parents
  nlohmann::json extra = nlohmann::json::object();       // any other keys: kind-specific settings

  std::string to_json() const;
  // Parses and validates; throws Error saying what is wrong (the caller adds where).
  static ShardHeader from_json(std::string_view text);

  // A header for a new shard, with the dtype that fits the vocabulary.
  static ShardHeader make(RecordKind kind, uint32_t vocab_size, std::string vocab_fingerprint = {});
};

// A problem at a known place inside a shard structure: relative_offset is from the structure's start.
class FormatError : public Error {
 public:
  FormatError(uint64_t offset, const std::string& what) : Error(what), relative_offset(offset) {}
  uint64_t relative_offset;
};

// The first 16 bytes of a shard (got of them were available): checks magic and version, returns the
// JSON size. Throws FormatError.
uint32_t parse_header_prefix(const uint8_t* prefix, size_t got);
// The JSON and its checksum (json_size + 4 bytes) after a valid prefix. Throws FormatError.
ShardHeader parse_header_body(const uint8_t* prefix, std::span<const uint8_t> json_and_crc);

// {"program", "version", "args", "seed", "parents"}: parents are the provenance objects of the shards
// the program read, so a shard carries its whole lineage. args leaves out --threads, --quiet and
// --progress, which do not change the output.
nlohmann::json make_provenance(std::string_view program, const std::vector<std::string>& args, uint64_t seed,
                               const std::vector<nlohmann::json>& parents = {});

}  // namespace lmpipe::io
