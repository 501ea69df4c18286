#pragma once
// The lines of a JSON-lines file that sample's modes read whole (--messages, --score): each line that
// holds more than spaces, tabs and CRs, with its number from 1, for errors that name FILE:LINE.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/input_file.h"
#include "tok/text_chunker.h"

namespace lmpipe::gen {

template <class Fn>
void for_each_file_line(const std::string& path, Fn&& fn) {
  const std::string text = read_file(path);
  tok::for_each_record_line(text, [&](size_t index, std::string_view line) { fn(line, index + 1); });
}

}  // namespace lmpipe::gen
