#pragma once
// What shard-cat prints: headers, totals, or records as JSON lines. Here rather than in cmd/ so that
// tests can call it; it knows nothing of vocabularies beyond the TokenText a caller may pass.
#include <cstdint>
#include <span>
#include <string>

#include "core/output_file.h"
#include "core/progress.h"
#include "io/shard_reader.h"

namespace lmpipe::io {

// Renders ids as text for --jsonl -v VOCAB.
class TokenText {
 public:
  virtual ~TokenText() = default;
  virtual std::string token(uint32_t id) const = 0;                  // one token's text
  virtual std::string text(std::span<const uint32_t> ids) const = 0;  // a whole sequence's
};

// Each shard's header as one JSON line. Reads the blocks' headers but does not decompress them.
void dump_headers(ShardReader& reader, ByteSink& out);
// One JSON object: counts (shards, blocks, records, tokens, ...), sizes and record-length figures.
void dump_stats(ShardReader& reader, ByteSink& out, Progress& progress);
// One JSON object per record: "ids" and the kind's fields ("sentence_lens", "len_a", "is_next",
// "positions", "labels", "image" [width, height]); with text, also "tokens" (each id's text) and "text";
// with pixels, an images record's "pixels" too (its bytes, as make-test-shard reads them back).
void dump_records(ShardReader& reader, ByteSink& out, const TokenText* text, Progress& progress, bool pixels = false);

}  // namespace lmpipe::io
