#include "data/chat_job.h"

#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "core/input_file.h"
#include "data/line_chunks.h"
#include "tok/text_chunker.h"

namespace lmpipe::data {
namespace {

// What a chunk of lines became: each conversation's ids and mask, and the lines that were bad.
struct ChatChunk {
  struct Item {
    size_t line = 0;      // index of the line in the chunk
    size_t start = 0, length = 0;  // into tokens
    std::string error;    // non-empty: the line was bad
  };
  tok::ChatTokens tokens;
  std::vector<Item> items;
  size_t lines = 0;

  void clear() {
    tokens.ids.clear();
    tokens.loss_mask.clear();
    items.clear();
    lines = 0;
  }
};

void render_chunk(std::string_view text, const tok::ChatMlTemplate& chat_template,
                  tok::ConversationReader& reader, tok::Tokenizer::Session& session, ChatChunk& result) {
  result.clear();
  result.lines = tok::for_each_record_line(text, [&](size_t index, std::string_view line) {
    ChatChunk::Item item;
    item.line = index;
    item.start = result.tokens.ids.size();
    try {
      chat_template.render(reader.read(line), session, result.tokens);
    } catch (const Error& e) {
      item.error = e.what();
      result.tokens.ids.resize(item.start);
      result.tokens.loss_mask.resize(item.start);
    }
    item.length = result.tokens.ids.size() - item.start;
    result.items.push_back(std::move(item));
  });
}

// Collects conversations into records: one each, or packed up to max_len ids.
class RecordPacker {
 public:
  RecordPacker(io::ShardWriter& writer, const ChatOptions& options, ChatSummary& summary)
      : writer_(writer), options_(options), summary_(summary) {}

  void add(std::span<const uint32_t> ids, std::span<const uint8_t> mask) {
    if (ids.size() > options_.max_len) {
      ids = ids.first(options_.max_len);
      mask = mask.first(options_.max_len);
      ++summary_.truncated;
    }
    if (!options_.pack || ids_.size() + ids.size() > options_.max_len) flush();
    ids_.insert(ids_.end(), ids.begin(), ids.end());
    mask_.insert(mask_.end(), mask.begin(), mask.end());
    lens_.push_back(uint32_t(ids.size()));
    ++summary_.conversations;
    if (!options_.pack) flush();
  }

  void flush() {
    if (lens_.empty()) return;
    io::RecordView r;
    r.ids = ids_;
    r.loss_mask = mask_;
    r.sentence_lens = lens_;
    writer_.write(r);
    ++summary_.records;
    summary_.tokens += ids_.size();
    for (uint8_t m : mask_) summary_.loss_tokens += m;
    ids_.clear();
    mask_.clear();
    lens_.clear();
  }

 private:
  io::ShardWriter& writer_;
  const ChatOptions& options_;
  ChatSummary& summary_;
  std::vector<uint32_t> ids_, lens_;
  std::vector<uint8_t> mask_;
};

}  // namespace

io::ShardHeader vocab_header(io::RecordKind kind, const tok::Tokenizer& tokenizer, nlohmann::json provenance) {
  const tok::Vocab& vocab = tokenizer.vocab();
  io::ShardHeader h = io::ShardHeader::make(kind, vocab.size(), vocab.fingerprint);
  h.special_ids = vocab.special_ids();
  h.provenance = std::move(provenance);
  h.extra["tokenizer"] = vocab.kind == tok::VocabKind::kByteLevelBpe ? "byte-level-bpe" : "wordpiece";
  // Where the vocabulary was, so that pretrain can put its files (and the template's) into checkpoints.
  std::error_code ec;
  h.extra["vocab"] = std::filesystem::absolute(vocab.source, ec).string();
  return h;
}

io::ShardHeader template_header(io::RecordKind kind, const tok::Tokenizer& tokenizer,
                                const tok::ChatMlTemplate& chat_template, nlohmann::json provenance) {
  io::ShardHeader h = vocab_header(kind, tokenizer, std::move(provenance));
  h.extra["template"] = {{"name", "chatml"},
                         {"im_start", chat_template.start_id()},
                         {"im_end", chat_template.end_id()}};
  return h;
}

io::ShardHeader chat_header(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                            const ChatOptions& options, nlohmann::json provenance) {
  io::ShardHeader h = template_header(io::RecordKind::kChat, tokenizer, chat_template, std::move(provenance));
  h.extra["format"] = options.format == tok::ChatFormat::kAlpaca ? "alpaca" : "messages";
  h.extra["max_len"] = options.max_len;
  h.extra["packed"] = options.pack;
  return h;
}

ChatSummary make_chat(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                      const std::vector<std::string>& inputs, const ChatOptions& options, io::ShardWriter& writer,
                      Progress& progress) {
  if (options.max_len < 2)
    throw UsageError(fmt::format("--max-len {} is below 2: a record holds an input and its target", options.max_len));
  const int threads = std::max(1, options.threads);
  std::vector<std::unique_ptr<tok::Tokenizer::Session>> sessions;
  std::vector<std::unique_ptr<tok::ConversationReader>> readers;
  for (int t = 0; t < threads; ++t) {
    sessions.push_back(tokenizer.session());
    readers.push_back(std::make_unique<tok::ConversationReader>(options.format));
  }
  ChatSummary summary;
  RecordPacker packer(writer, options, summary);
  summary.skipped = for_each_line_chunk<ChatChunk>(
      inputs, options.chunk_bytes, threads, options.skip_bad, progress,
      [&](std::string_view text, size_t, int thread, ChatChunk& result) {
        render_chunk(text, chat_template, *readers[size_t(thread)], *sessions[size_t(thread)], result);
      },
      [&](const ChatChunk& r, const ChatChunk::Item& item) {
        packer.add(std::span<const uint32_t>(r.tokens.ids).subspan(item.start, item.length),
                   std::span<const uint8_t>(r.tokens.loss_mask).subspan(item.start, item.length));
      });
  packer.flush();
  return summary;
}

}  // namespace lmpipe::data
