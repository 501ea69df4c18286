#pragma once
// make-chat's work: conversations in JSON lines to a chat shard (ids and loss masks in a template),
// encoded in parallel chunk by chunk and written in input order, with bounded memory.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "tok/chat_template.h"
#include "io/shard_header.h"
#include "io/shard_writer.h"
#include "tok/tokenizer.h"

namespace lmpipe::data {

struct ChatOptions {
  tok::ChatFormat format = tok::ChatFormat::kMessages;
  size_t max_len = 1024;  // ids per record at most: a longer conversation is cut at the end
  bool pack = false;    // several conversations to a record of at most max_len ids
  bool skip_bad = false;  // count bad lines instead of stopping at the first
  int threads = 1;
  size_t chunk_bytes = 1 << 20;
};

struct ChatSummary {
  uint64_t conversations = 0, records = 0, tokens = 0, loss_tokens = 0;
  uint64_t truncated = 0;  // conversations cut at max_len
  uint64_t skipped = 0;    // bad lines, with skip_bad
};

// A header of that kind for records of the tokenizer's ids: its special ids, the tokenizer, and where the
// vocabulary is (pretrain puts its files into checkpoints).
io::ShardHeader vocab_header(io::RecordKind kind, const tok::Tokenizer& tokenizer, nlohmann::json provenance);

// vocab_header, and the chat template's marker ids.
io::ShardHeader template_header(io::RecordKind kind, const tok::Tokenizer& tokenizer,
                                const tok::ChatMlTemplate& chat_template, nlohmann::json provenance);

// The header of the chat shard make_chat writes.
io::ShardHeader chat_header(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                            const ChatOptions& options, nlohmann::json provenance);

// Reads the JSON lines of inputs ("-": stdin; blank lines skipped) and writes their conversations.
// A bad line is an Error "FILE:LINE: what", or with skip_bad is counted and left out.
ChatSummary make_chat(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                      const std::vector<std::string>& inputs, const ChatOptions& options, io::ShardWriter& writer,
                      Progress& progress);

}  // namespace lmpipe::data
