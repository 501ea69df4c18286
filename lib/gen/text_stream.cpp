#include "gen/text_stream.h"

#include <algorithm>

namespace lmpipe::gen {

size_t incomplete_utf8_tail(std::string_view s) {
  // The last lead byte among the final three; a sequence it starts that is longer than what follows it
  // is incomplete. Anything else (ASCII, complete sequences, stray continuation bytes) is final as is.
  for (size_t back = 1; back <= std::min<size_t>(3, s.size()); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

TextStream::TextStream(std::vector<std::string> stops) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

bool TextStream::push(std::string_view bytes) {
  if (stopped_ || finished_) return stopped_;
  text_.append(bytes);
  size_t cut = std::string::npos;
  for (const std::string& stop : stops_) {
    const size_t from = searched_ >= stop.size() - 1 ? searched_ - (stop.size() - 1) : 0;
    const size_t at = text_.find(stop, from);
    cut = std::min(cut, at);
  }
  searched_ = text_.size();
  if (cut != std::string::npos) {
    text_.resize(cut);
    stopped_ = true;
  }
  return stopped_;
}

size_t TextStream::held_back() const {
  if (stopped_ || finished_) return 0;
  size_t hold = incomplete_utf8_tail(text_);
  // The longest end of the text that a stop string begins with.
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, text_.size()); n > hold; --n) {
      if (std::string_view(text_).substr(text_.size() - n) == std::string_view(stop).substr(0, n)) {
        hold = n;
        break;
      }
    }
  }
  return hold;
}

std::string_view TextStream::take() {
  const size_t end = std::max(taken_, text_.size() - held_back());
  const std::string_view out = std::string_view(text_).substr(taken_, end - taken_);
  taken_ = end;
  return out;
}

std::string_view TextStream::finish() {
  finished_ = true;
  return take();
}

}  // namespace lmpipe::gen
