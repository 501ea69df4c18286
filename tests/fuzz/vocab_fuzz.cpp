// libFuzzer target for vocabulary files. The first input byte picks the format, and whether the tokenizer
// recognises special-token strings in text (bit 2):
//   0: vocab.json and merges.txt (fuzz_input.h's two-file form), GPT-2 and RoBERTa's files;
//   1: vocab.txt (BERT);
//   2: tokenizer.json (HuggingFace).
// A vocabulary that loads is then used: its encoder is built and a fixed text with special-token strings
// is encoded and decoded, and byte-level BPE must give the text back. Every input must end there or in
// lmpipe::Error; a crash, a sanitizer report, a leak or an allocation over libFuzzer's -malloc_limit_mb
// (an id of 4 billion must not size a table) is a bug.
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "fuzz_input.h"
#include "tok/tokenizer.h"

using namespace lmpipe;

namespace {

const fuzz::ScratchDir scratch;
constexpr std::string_view kText = "Hello, world! <|endoftext|> [SEP] <s>x</s> ##ing caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80\n\t  ";

void load(uint8_t mode, fuzz::Bytes bytes) {
  scratch.clear();
  switch (mode % 4) {
    case 0: {
      const auto [vocab, merges] = fuzz::split_two(bytes);
      scratch.write("vocab.json", vocab);
      scratch.write("merges.txt", merges);
      break;
    }
    case 1: scratch.write("vocab.txt", bytes); break;
    default: scratch.write("tokenizer.json", bytes); break;
  }
  tok::TokenizerOptions options;
  options.special_in_text = mode & 4;
  const auto tokenizer = tok::Tokenizer::load(scratch.path(), options);
  const tok::Vocab& vocab = tokenizer->vocab();
  std::vector<uint32_t> ids;
  tokenizer->session()->encode(kText, ids);
  for (uint32_t id : ids)
    if (id >= vocab.size()) __builtin_trap();
  const std::string text = vocab.decode(ids);
  if (vocab.kind == tok::VocabKind::kByteLevelBpe && !options.special_in_text && text != kText) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    load(data[0], fuzz::Bytes(data + 1, size - 1));
  } catch (const Error&) {
  }
  return 0;
}
