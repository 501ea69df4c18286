#pragma once
// The loop of the JSON-lines programs (make-chat, make-prefs): the inputs cut into chunks of whole lines,
// each chunk's lines encoded in parallel, then taken in input order, a bad line reported by file and line
// or counted. Bounded memory, and output that does not depend on the thread count.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/progress.h"
#include "tok/text_chunker.h"

namespace lmpipe::data {

// encode(text, file, thread, result) encodes a chunk's text (from inputs[file]: records may name files
// beside their own) into a Result, which has `items` (one per non-blank
// line: `line`, its index in the chunk, and `error`, non-empty when the line was bad) and `lines` (the
// chunk's lines, blank ones too). take(result, item) then gets each good item in input order; a bad one
// is an Error "FILE:LINE: what", or with skip_bad is left out. Returns the bad lines left out.
template <class Result, class Encode, class Take>
uint64_t for_each_line_chunk(const std::vector<std::string>& inputs, size_t chunk_bytes, int threads, bool skip_bad,
                             Progress& progress, Encode&& encode, Take&& take) {
  tok::TextChunker chunker(inputs, tok::TextChunker::Cut::kLines, chunk_bytes);
  std::vector<Result> results(size_t(std::max(1, threads)) * tok::kChunksPerThread);
  uint64_t skipped = 0;
  size_t file = 0;
  uint64_t lines_before = 0;  // in the current file, before the chunk
  tok::for_each_chunk_parallel(
      chunker, threads,
      [&](const tok::TextChunk& chunk, size_t slot, int thread) {
        encode(std::string_view(chunk.text), chunk.file, thread, results[slot]);
      },
      [&](const tok::TextChunk& chunk, size_t slot) {
        if (chunk.file != file) {
          file = chunk.file;
          lines_before = 0;
        }
        const Result& r = results[slot];
        for (const auto& item : r.items) {
          if (!item.error.empty()) {
            if (!skip_bad)
              throw Error(fmt::format("{}:{}: {}", chunker.path(chunk.file), lines_before + item.line + 1, item.error));
            ++skipped;
            continue;
          }
          take(r, item);
        }
        lines_before += r.lines;
        progress.update(chunker.bytes_read());
      });
  return skipped;
}

}  // namespace lmpipe::data
