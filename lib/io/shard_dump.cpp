#include "io/shard_dump.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lmpipe::io {
namespace {

std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_ids(fmt::memory_buffer& buf, const char* key, std::span<const uint32_t> ids) {
  fmt::format_to(std::back_inserter(buf), ",\"{}\":[{}]", key, fmt::join(ids, ","));
}

}  // namespace

void dump_headers(ShardReader& reader, ByteSink& out) {
  while (reader.next_block() != nullptr) {
  }
  for (const ShardHeader& h : reader.headers()) {
    const std::string line = h.to_json() + "\n";
    out.write(line.data(), line.size());
  }
}

void dump_stats(ShardReader& reader, ByteSink& out, Progress& progress) {
  uint64_t min_len = std::numeric_limits<uint64_t>::max(), max_len = 0, labels[3] = {0, 0, 0}, trained = 0;
  while (const Block* block = reader.next_block()) {
    for (uint8_t m : block->loss_mask) trained += m;
    for (size_t i = 0; i < block->size(); ++i) {
      const uint64_t len = block->token_start[i + 1] - block->token_start[i];
      min_len = std::min(min_len, len);
      max_len = std::max(max_len, len);
      if (!block->is_next.empty()) labels[block->is_next[i] == kNoLabel ? 2 : block->is_next[i]]++;
    }
    progress.update(reader.bytes_consumed());
  }
  const ReadTotals& t = reader.totals();
  const ShardHeader& h = reader.header();
  nlohmann::ordered_json j;
  j["kind"] = kind_name(h.kind);
  j["vocab_size"] = h.vocab_size;
  j["shards"] = t.shards;
  j["blocks"] = t.blocks;
  j["records"] = t.records;
  j["tokens"] = t.tokens;
  if (h.kind == RecordKind::kDocs) j["sentences"] = t.items;
  if (h.kind == RecordKind::kMasked) j["masked"] = t.items;
  if (h.kind == RecordKind::kPrefs) j["pairs"] = (t.items - t.records) / 2;
  if (h.kind == RecordKind::kChat) {
    j["conversations"] = t.items;
    j["loss_tokens"] = trained;
  }
  if (h.kind == RecordKind::kImages) {
    j["pixels"] = t.items;
    j["loss_tokens"] = trained;
  }
  if (h.kind == RecordKind::kPairs || h.kind == RecordKind::kMasked) {
    j["is_next"] = {{"1", labels[1]}, {"0", labels[0]}, {"none", labels[2]}};
  }
  j["record_tokens"] = {{"min", t.records ? min_len : 0},
                        {"mean", t.records ? double(t.tokens) / double(t.records) : 0.0},
                        {"max", max_len}};
  j["stored_bytes"] = t.stored_bytes;
  j["payload_bytes"] = t.payload_bytes;
  j["compression_ratio"] = t.stored_bytes ? double(t.payload_bytes) / double(t.stored_bytes) : 0.0;
  const std::string line = j.dump() + "\n";
  out.write(line.data(), line.size());
}

void dump_records(ShardReader& reader, ByteSink& out, const TokenText* text, Progress& progress, bool pixels) {
  fmt::memory_buffer buf;
  while (const Block* block = reader.next_block()) {
    for (size_t i = 0; i < block->size(); ++i) {
      const RecordView r = block->record(i);
      buf.clear();
      fmt::format_to(std::back_inserter(buf), "{{\"ids\":[{}]", fmt::join(r.ids, ","));
      switch (block->kind) {
        case RecordKind::kDocs:
          append_ids(buf, "sentence_lens", r.sentence_lens);
          if (r.doc_flags & kDocContinues) fmt::format_to(std::back_inserter(buf), ",\"doc_continues\":true");
          if (r.doc_flags & kSentenceContinues) fmt::format_to(std::back_inserter(buf), ",\"sentence_continues\":true");
          break;
        case RecordKind::kPairs:
        case RecordKind::kMasked:
          fmt::format_to(std::back_inserter(buf), ",\"len_a\":{},\"is_next\":{}", r.len_a,
                         r.is_next == kNoLabel ? std::string("null") : std::to_string(r.is_next));
          if (block->kind == RecordKind::kMasked) {
            append_ids(buf, "positions", r.positions);
            append_ids(buf, "labels", r.labels);
          }
          break;
        case RecordKind::kChat:
          fmt::format_to(std::back_inserter(buf), ",\"loss_mask\":[{}]", fmt::join(r.loss_mask, ","));
          append_ids(buf, "conversation_lens", r.sentence_lens);
          break;
        case RecordKind::kPrefs:
          append_ids(buf, "part_lens", r.sentence_lens);
          break;
        case RecordKind::kImages:  // the pixels' size; the pixels themselves when asked for
          fmt::format_to(std::back_inserter(buf), ",\"loss_mask\":[{}],\"image\":[{},{}]", fmt::join(r.loss_mask, ","),
                         r.image_width, r.image_height);
          if (pixels) fmt::format_to(std::back_inserter(buf), ",\"pixels\":[{}]", fmt::join(r.pixels, ","));
          break;
        case RecordKind::kWindows:
          break;
      }
      if (text != nullptr) {
        fmt::format_to(std::back_inserter(buf), ",\"tokens\":[");
        for (size_t k = 0; k < r.ids.size(); ++k)
          fmt::format_to(std::back_inserter(buf), "{}{}", k ? "," : "", json_string(text->token(r.ids[k])));
        fmt::format_to(std::back_inserter(buf), "],\"text\":{}", json_string(text->text(r.ids)));
      }
      buf.append(std::string_view("}\n"));
      out.write(buf.data(), buf.size());
    }
    progress.update(reader.bytes_consumed());
  }
}

}  // namespace lmpipe::io
