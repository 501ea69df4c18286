// libFuzzer target for text on its way to ids and back, with the shipped GPT-2 and bert-base-uncased
// vocabularies. The first input byte picks the path (bits 0-1) and its options (bits 2-5); the rest is
// the text (or what --decode reads):
//   0: GPT-2's pre-tokenizer and BPE: the pieces must concatenate to the text and the ids decode to it;
//   1: BERT's normaliser, pre-tokenizer and WordPiece (HuggingFace's or google-research/bert's cleaning,
//      cased or not): every id in the vocabulary;
//   2: tok-encode: the text as a file in one of the four layouts (plain, lines, jsonl, docs) into a docs
//      shard, and tok-encode --decode back; with GPT-2 and the plain layout the text must come back;
//   3: tok-encode --decode: the bytes as lines of ids (--format ids), and as a shard.
// Bit 2: special-token strings in the text are recognised (--special-in-text). Every input must end in
// success or lmpipe::Error; anything else is a bug.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/output_file.h"
#include "core/progress.h"
#include "fuzz_input.h"
#include "io/shard_reader.h"
#include "io/shard_writer.h"
#include "text/gpt2_pretokenizer.h"
#include "tok/encode_job.h"
#include "tok/tokenizer.h"

using namespace lmpipe;

namespace {

const fuzz::ScratchDir scratch;

// One tokenizer per (vocabulary, options), loaded on first use.
const tok::Tokenizer& tokenizer(bool bert, uint8_t options) {
  static std::map<int, std::unique_ptr<tok::Tokenizer>> loaded;
  const int key = (bert ? 8 : 0) | (options & 7);
  auto& slot = loaded[key];
  if (!slot) {
    tok::TokenizerOptions o;
    o.special_in_text = options & 1;
    if (bert) {
      o.google_normalizer = options & 2;
      o.lowercase = !(options & 4);
    }
    slot = tok::Tokenizer::load(bert ? "bert-base-uncased" : "gpt2", o);
  }
  return *slot;
}

void check_ids(const tok::Tokenizer& t, const std::vector<uint32_t>& ids) {
  for (uint32_t id : ids)
    if (id >= t.vocab().size()) __builtin_trap();
}

void gpt2_round_trip(std::string_view text, bool special_in_text) {
  std::string joined;
  text::gpt2_split(text, [&](std::string_view piece) {
    if (piece.empty()) __builtin_trap();
    joined += piece;
  });
  if (joined != text) __builtin_trap();
  const tok::Tokenizer& t = tokenizer(false, special_in_text);
  std::vector<uint32_t> ids;
  t.session()->encode(text, ids);
  check_ids(t, ids);
  if (t.vocab().decode(ids) != text) __builtin_trap();
}

void wordpiece(std::string_view text, uint8_t options) {
  const tok::Tokenizer& t = tokenizer(true, options);
  std::vector<uint32_t> ids;
  t.session()->encode(text, ids);
  check_ids(t, ids);
  (void)t.vocab().decode(ids);
}

std::string decode(const tok::Tokenizer& t, fuzz::Bytes shard) {
  io::ShardReader reader(InputStream::from_memory("shard", shard));
  MemorySink text;
  tok::decode_shard(t, reader, text);
  return std::string(text.bytes.begin(), text.bytes.end());
}

void encode_file(fuzz::Bytes bytes, uint8_t options) {
  const bool bert = options & 8;
  const tok::Tokenizer& t = tokenizer(bert, options);
  tok::EncodeOptions o;
  o.layout = tok::TextLayout((options >> 1) & 3);
  o.jsonl_key = "text";
  o.threads = 1;
  o.chunk_bytes = 64;  // many chunks, so that the cuts between them are exercised
  const std::vector<std::string> inputs{scratch.write("input.txt", bytes)};
  MemorySink shard;
  {
    io::ShardWriter writer(shard, tok::docs_header(t, o, nlohmann::json::object()));
    Progress progress(false, "fuzz", bytes.size(), Progress::Unit::kBytes);
    tok::encode_to_shard(t, inputs, o, writer, progress);
    writer.finish();
  }
  const std::string text = decode(t, shard.bytes);
  if (!bert && o.layout == tok::TextLayout::kPlain && text != fuzz::as_text(bytes)) __builtin_trap();
}

void decode_input(fuzz::Bytes bytes, uint8_t options) {
  const tok::Tokenizer& t = tokenizer(options & 8, 0);
  MemorySink text;
  try {
    tok::decode_ids(t, {scratch.write("ids.txt", bytes)}, text);
  } catch (const Error&) {
  }
  (void)decode(t, bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const fuzz::Bytes bytes(data + 1, size - 1);
  const std::string_view text = fuzz::as_text(bytes);
  try {
    switch (mode & 3) {
      case 0: gpt2_round_trip(text, (mode >> 2) & 1); break;
      case 1: wordpiece(text, uint8_t(mode >> 2)); break;
      case 2: encode_file(bytes, uint8_t(mode >> 2)); break;
      case 3: decode_input(bytes, uint8_t(mode >> 2)); break;
    }
  } catch (const Error&) {
  }
  return 0;
}
