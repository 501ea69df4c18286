#pragma once
// make-images's work: pictures and their texts in JSON lines (tok::parse_image_text's layouts) to an images
// shard. Each line's picture is read (relative to the JSON file), decoded, resized and cropped as CLIP's
// image processor does; its text becomes ids with the picture's placeholder and a loss mask: a caption
// is the placeholder, the caption and the vocabulary's end-of-text suffix (LLaVA's stage-1 layout, the
// caption learned); a chat is rendered in the ChatML template with the placeholder where its text
// (<image>) is, the assistant's replies learned. Lines are handled in parallel chunk by chunk and written
// in input order, with bounded memory.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "image/image_decoder.h"
#include "io/shard_header.h"
#include "io/shard_writer.h"
#include "tok/tokenizer.h"

namespace lmpipe::data {

struct ImagesOptions {
  uint32_t image_size = 224;           // the side of the square each picture becomes
  std::string placeholder = "<image>";  // the added token that stands for the picture
  size_t max_len = 1024;               // text ids per record at most: a longer text is cut at the end
  image::DecodeLimits limits;
  bool skip_bad = false;  // count bad lines instead of stopping at the first
  int threads = 1;
  // Lines are read in chunks of about this many bytes: a chunk's pictures are in memory at once, for
  // threads x 4 chunks.
  size_t chunk_bytes = 8 << 10;
};

struct ImagesSummary {
  uint64_t records = 0, captions = 0, chats = 0, tokens = 0, loss_tokens = 0;
  uint64_t truncated = 0;  // texts cut at max_len
  uint64_t skipped = 0;    // bad lines, with skip_bad
};

// Throws Error when the vocabulary lacks the placeholder token, saying how to add it.
uint32_t placeholder_id(const tok::Tokenizer& tokenizer, const std::string& placeholder);

// The header of the shard make_images writes: the placeholder's id, the picture size, the tokenizer and
// where the vocabulary is, and the ChatML markers when the vocabulary has them.
io::ShardHeader images_header(const tok::Tokenizer& tokenizer, const ImagesOptions& options,
                              nlohmann::json provenance);

// Reads the JSON lines of inputs ("-": stdin, its pictures relative to the current directory) and writes
// a record for each. A bad line (its JSON, its text, or its picture: missing, unreadable, not a PNG or
// JPEG, corrupt, too large) is an Error "FILE:LINE: what", or with skip_bad is counted and left out.
ImagesSummary make_images(const tok::Tokenizer& tokenizer, const std::vector<std::string>& inputs,
                          const ImagesOptions& options, io::ShardWriter& writer, Progress& progress);

}  // namespace lmpipe::data
