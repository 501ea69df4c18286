// libFuzzer target for make-chat's and make-prefs's input: JSON lines of conversations (or preference
// pairs) through the ChatML template into a chat (or prefs) shard, which is then read back. The first input byte sets the options: bit 0 the Alpaca format,
// bit 1 --pack, bit 2 --skip-bad, bits 3-7 --max-len (0: none, else 4 ids per step). The vocabulary is
// GPT-2's extended with the ChatML markers. Every input must end in success or lmpipe::Error; anything
// else is a bug, and so is a line that ConversationReader reads otherwise than parse_conversation.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/output_file.h"
#include "core/progress.h"
#include "data/chat_job.h"
#include "data/prefs_job.h"
#include "fuzz_input.h"
#include "io/shard_reader.h"
#include "tok/conversation.h"
#include "tok/train_job.h"

using namespace lmpipe;

namespace {

const fuzz::ScratchDir scratch;

struct Chat {
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::unique_ptr<tok::ChatMlTemplate> chat_template;
};

const Chat& chat() {
  static const Chat loaded = [] {
    const std::string dir = scratch.path() + "/chatml";
    tok::extend_vocabulary("gpt2", {"<|im_start|>", "<|im_end|>"}, true, dir);
    Chat c;
    c.tokenizer = tok::Tokenizer::load(dir);
    c.chat_template = std::make_unique<tok::ChatMlTemplate>(*c.tokenizer);
    return c;
  }();
  return loaded;
}

// The conversation, or the error, a reading gives.
template <typename Read>
std::pair<tok::Conversation, std::string> outcome(Read read) {
  try {
    return {read(), ""};
  } catch (const Error& e) {
    return {{}, e.what()};
  }
}

void check_reader(tok::ChatFormat format, std::string_view text) {
  tok::ConversationReader reader(format);
  for (size_t pos = 0; pos <= text.size();) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (outcome([&] { return reader.read(line); }) != outcome([&] { return tok::parse_conversation(line, format); }))
      __builtin_trap();
  }
}

void run_chat(uint8_t mode, fuzz::Bytes bytes) {
  const Chat& c = chat();
  data::ChatOptions options;
  options.format = mode & 1 ? tok::ChatFormat::kAlpaca : tok::ChatFormat::kMessages;
  options.max_len = mode >> 3 ? size_t(mode >> 3) * 4 : 1024;
  options.pack = mode & 2;
  options.skip_bad = mode & 4;
  options.chunk_bytes = 256;  // many chunks, so that line numbers are counted across them
  check_reader(options.format, fuzz::as_text(bytes));
  const std::string input = scratch.write("chats.jsonl", bytes);
  MemorySink shard;
  data::ChatSummary summary;
  {
    io::ShardWriter writer(shard, data::chat_header(*c.tokenizer, *c.chat_template, options, nlohmann::json::object()));
    Progress progress(false, "fuzz", bytes.size(), Progress::Unit::kBytes);
    summary = data::make_chat(*c.tokenizer, *c.chat_template, {input}, options, writer, progress);
    writer.finish();
  }
  io::ShardReader reader(InputStream::from_memory("shard", shard.bytes));
  io::RecordView r;
  uint64_t records = 0, tokens = 0;
  while (reader.next(r)) {
    ++records;
    tokens += r.ids.size();
    if (options.max_len && r.ids.size() > options.max_len) __builtin_trap();
  }
  if (records != summary.records || tokens != summary.tokens) __builtin_trap();
}

// make-prefs on the same lines, the mode's bits read as: bit 0 --prompts-only, bit 1 --group 1, bit 2
// --skip-bad, bits 3-7 --max-len. Every record must fit max_len as a prompt and its longest reply.
void run_prefs(uint8_t mode, fuzz::Bytes bytes) {
  const Chat& c = chat();
  data::PrefsOptions options;
  options.prompts_only = mode & 1;
  options.group = mode & 2 ? 1 : 64;
  options.skip_bad = mode & 4;
  options.max_len = mode >> 3 ? size_t(mode >> 3) * 4 : 1024;
  options.chunk_bytes = 256;
  const std::string input = scratch.write("prefs.jsonl", bytes);
  MemorySink shard;
  data::PrefsSummary summary;
  {
    io::ShardWriter writer(shard, data::prefs_header(*c.tokenizer, *c.chat_template, options, nlohmann::json::object()));
    Progress progress(false, "fuzz", bytes.size(), Progress::Unit::kBytes);
    summary = data::make_prefs(*c.tokenizer, *c.chat_template, {input}, options, writer, progress);
    writer.finish();
  }
  io::ShardReader reader(InputStream::from_memory("shard", shard.bytes));
  io::RecordView r;
  uint64_t records = 0, tokens = 0, pairs = 0;
  while (reader.next(r)) {
    ++records;
    tokens += r.ids.size();
    if (options.prompts_only) {
      if (r.ids.size() > options.max_len) __builtin_trap();
      continue;
    }
    const io::PrefsParts parts = io::prefs_parts(r);
    pairs += parts.pairs.size();
    for (const auto& pair : parts.pairs)
      if (parts.prompt.size() + std::max(pair.chosen.size(), pair.rejected.size()) > options.max_len) __builtin_trap();
  }
  if (records != summary.records || tokens != summary.tokens || pairs != summary.pairs) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    run_chat(data[0], fuzz::Bytes(data + 1, size - 1));
  } catch (const Error&) {
  }
  try {
    run_prefs(data[0], fuzz::Bytes(data + 1, size - 1));
  } catch (const Error&) {
  }
  return 0;
}
