#include "tok/text_chunker.h"

namespace lmpipe::tok {
namespace {

bool printable(char c) { return c > ' ' && c < 0x7F; }

}  // namespace

TextChunker::TextChunker(std::vector<std::string> paths, Cut cut, size_t chunk_bytes)
    : paths_(paths.empty() ? std::vector<std::string>{"-"} : std::move(paths)), cut_(cut),
      chunk_bytes_(std::max<size_t>(chunk_bytes, 1)) {}

size_t TextChunker::cut_point(const std::string& b) const {
  // Search back from the end for the last safe place.
  if (cut_ == Cut::kLines) {
    const size_t newline = b.rfind('\n');
    return newline == std::string::npos ? 0 : newline + 1;
  }
  for (size_t i = b.size() - 1; i >= 2 && i < b.size(); --i) {
    // "x y": cutting before the space gives "x" | " y", the pieces the whole text has.
    if (b[i] == ' ' && i + 1 < b.size() && printable(b[i - 1]) && printable(b[i + 1])) return i;
    // "x\ny": "x" "\n" "y" either way.
    if (b[i - 1] == '\n' && printable(b[i - 2]) && printable(b[i])) return i;
  }
  return 0;
}

bool TextChunker::next(TextChunk& chunk) {
  while (in_ == nullptr) {
    if (file_ >= paths_.size()) return false;
    in_ = InputStream::open(paths_[file_]);
    carry_.clear();
    carry_offset_ = 0;
  }
  std::string buffer = std::move(carry_);
  carry_.clear();
  size_t want = chunk_bytes_;
  for (;;) {
    const size_t old = buffer.size();
    if (old < want) {
      buffer.resize(want);
      buffer.resize(old + in_->read(buffer.data() + old, want - old));
    }
    if (in_->at_end()) {
      chunk.text = std::move(buffer);
      chunk.file = file_;
      chunk.offset = carry_offset_;
      chunk.file_end = true;
      done_bytes_ += in_->offset();
      in_.reset();
      ++file_;
      return true;
    }
    if (const size_t cut = cut_point(buffer); cut > 0) {
      carry_.assign(buffer, cut, std::string::npos);
      buffer.resize(cut);
      chunk.text = std::move(buffer);
      chunk.file = file_;
      chunk.offset = carry_offset_;
      chunk.file_end = false;
      carry_offset_ += chunk.text.size();
      return true;
    }
    want = buffer.size() * 2;  // no safe place yet: read on
  }
}

}  // namespace lmpipe::tok
