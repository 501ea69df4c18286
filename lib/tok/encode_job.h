#pragma once
// tok-encode's work: text files in, token shards (or id lines) out, in input order, encoded in
// parallel chunk by chunk; and the way back (--decode).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/output_file.h"
#include "core/progress.h"
#include "io/shard_reader.h"
#include "io/shard_writer.h"
#include "tok/tokenizer.h"

namespace lmpipe::tok {

// How documents are laid out in the input text.
enum class TextLayout {
  kPlain,  // each file is one document, encoded as one byte stream with its newlines
  kLines,  // each line is a document (its newline, and a CR before it, are not part of it)
  kJsonl,  // each line is a JSON object whose string field jsonl_key is a document
  kDocs,   // one sentence per line, a blank line between documents (google-research/bert's format)
};
std::string_view layout_name(TextLayout layout);

struct EncodeOptions {
  TextLayout layout = TextLayout::kPlain;
  std::string jsonl_key;
  bool add_special = false;     // wrap each document (each line with ids output) in the special tokens
  int threads = 1;
  size_t chunk_bytes = 1 << 20;  // text per parallel task
};

// The header of the docs shard encode_to_shard writes.
io::ShardHeader docs_header(const Tokenizer& tokenizer, const EncodeOptions& options, nlohmann::json provenance);

// Encodes the inputs ("-": stdin) into docs records, in input order.
void encode_to_shard(const Tokenizer& tokenizer, const std::vector<std::string>& inputs, const EncodeOptions& options,
                     io::ShardWriter& writer, Progress& progress);
// --format ids: one line of space-separated ids per input line, the line encoded without its newline.
void encode_to_ids(const Tokenizer& tokenizer, const std::vector<std::string>& inputs, const EncodeOptions& options,
                   ByteSink& out, Progress& progress);

// --decode: a shard back to text. docs records are laid out as their header's layout says (plain: the
// documents' bytes back to back, exactly the input for byte-level BPE; lines/jsonl: a line each; docs: a
// sentence a line, a blank line after each document); other kinds: a line per record.
void decode_shard(const Tokenizer& tokenizer, io::ShardReader& reader, ByteSink& out);
// --decode --format ids: each line of ids back to a line of text.
void decode_ids(const Tokenizer& tokenizer, const std::vector<std::string>& inputs, ByteSink& out);

}  // namespace lmpipe::tok
