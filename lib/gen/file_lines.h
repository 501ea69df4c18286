#pragma once
// The lines of a JSON-lines file that sample's modes read whole (--messages, --score): each line that
// holds more than spaces, tabs and CRs, with its number from 1, for errors that name FILE:LINE.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/input_file.h"

namespace lmpipe::gen {

template <class Fn>
void for_each_file_line(const std::string& path, Fn&& fn) {
  const std::string text = read_file(path);
  size_t start = 0, line_number = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    fn(line, line_number);
  }
}

}  // namespace lmpipe::gen
