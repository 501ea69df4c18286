#pragma once
// GPT-2's pre-tokenizer, the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// of OpenAI's encoder.py (and tiktoken's and HuggingFace's ByteLevel), as a hand-written scanner over
// UTF-8: the same pieces, no regex engine. Bytes that are not valid UTF-8 count as symbols (as U+FFFD
// would), so any byte string splits, and the pieces always concatenate back to the input.
#include <cstddef>
#include <string_view>

namespace lmpipe::text {

// End of the piece that starts at pos (pos < text.size()).
size_t gpt2_piece_end(std::string_view text, size_t pos);

// Calls fn(std::string_view piece) for each piece, in order.
template <class F>
void gpt2_split(std::string_view text, F&& fn) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = gpt2_piece_end(text, pos);
    fn(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace lmpipe::text
