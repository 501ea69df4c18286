#pragma once
// Cuts input files into chunks of about a given size for parallel encoding, only at places where
// cutting cannot change the tokens: after a newline (line layouts), or (whole-file documents) before a
// space or after a newline that sits between two printable ASCII characters, where GPT-2's and BERT's
// pre-tokenizers both end a piece anyway. Chunks never span files.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <omp.h>

#include <algorithm>

#include "core/error.h"
#include "core/input_file.h"

namespace lmpipe::tok {

struct TextChunk {
  std::string text;
  size_t file = 0;          // index into the paths
  uint64_t offset = 0;      // of text[0] in its file
  bool file_end = false;    // the last chunk of its file
};

class TextChunker {
 public:
  enum class Cut { kLines, kPieces };
  TextChunker(std::vector<std::string> paths, Cut cut, size_t chunk_bytes);
  // The next chunk, or false after the last file.
  bool next(TextChunk& chunk);
  // For messages: the path, or "<stdin>".
  std::string path(size_t file) const { return paths_[file] == "-" ? "<stdin>" : paths_[file]; }
  uint64_t bytes_read() const { return done_bytes_ + (in_ ? in_->offset() : 0); }

 private:
  size_t cut_point(const std::string& buffer) const;  // 0: none

  std::vector<std::string> paths_;
  Cut cut_;
  size_t chunk_bytes_;
  size_t file_ = 0;
  std::unique_ptr<InputStream> in_;
  std::string carry_;
  uint64_t carry_offset_ = 0;
  uint64_t done_bytes_ = 0;
};

// Calls fn(index, line) on each line of a chunk cut at lines (Cut::kLines) that holds more than spaces,
// tabs and CRs, without those at its ends; index counts every line from 0. Returns the number of lines.
template <class Fn>
size_t for_each_record_line(std::string_view text, Fn&& fn) {
  size_t index = 0;
  for (size_t pos = 0; pos < text.size(); ++index) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
    fn(index, line);
  }
  return index;
}

// Reads the chunker's chunks in batches of a few per thread, runs work(chunk, slot, thread) on a batch in
// parallel, then done(chunk, slot) on each in input order: bounded memory, ordered output, and results
// that do not depend on the thread count. An exception from work is rethrown, for the first chunk that
// failed, on the calling thread. slot indexes per-chunk results the caller keeps (threads * 4 of them).
inline constexpr size_t kChunksPerThread = 4;

template <class Work, class Done>
void for_each_chunk_parallel(TextChunker& chunker, int threads, Work&& work, Done&& done) {
  threads = std::max(1, threads);
  std::vector<TextChunk> batch(size_t(threads) * kChunksPerThread);
  std::vector<std::string> errors(batch.size());
  for (;;) {
    size_t n = 0;
    while (n < batch.size() && chunker.next(batch[n])) ++n;
    if (n == 0) return;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t i = 0; i < n; ++i) {
      errors[i].clear();
      try {
        work(batch[i], i, omp_get_thread_num());
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (!errors[i].empty()) throw Error(errors[i]);
      done(batch[i], i);
    }
  }
}

}  // namespace lmpipe::tok
