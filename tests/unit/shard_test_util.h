#pragma once
// Helpers for shard tests: owned records, random records of every kind, writing to and reading from memory.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "io/shard_reader.h"
#include "io/shard_writer.h"

namespace lmpipe::test {

struct OwnedRecord {
  std::vector<uint32_t> ids, sentence_lens, positions, labels;
  std::vector<uint8_t> loss_mask, pixels;
  uint32_t image_height = 0, image_width = 0;
  uint8_t doc_flags = 0;
  uint32_t len_a = 0;
  int8_t is_next = io::kNoLabel;

  io::RecordView view() const {
    io::RecordView v;
    v.ids = ids;
    v.sentence_lens = sentence_lens;
    v.doc_flags = doc_flags;
    v.len_a = len_a;
    v.is_next = is_next;
    v.positions = positions;
    v.labels = labels;
    v.loss_mask = loss_mask;
    v.pixels = pixels;
    v.image_height = image_height;
    v.image_width = image_width;
    return v;
  }
  static OwnedRecord from(const io::RecordView& v) {
    OwnedRecord r;
    r.ids.assign(v.ids.begin(), v.ids.end());
    r.sentence_lens.assign(v.sentence_lens.begin(), v.sentence_lens.end());
    r.positions.assign(v.positions.begin(), v.positions.end());
    r.labels.assign(v.labels.begin(), v.labels.end());
    r.loss_mask.assign(v.loss_mask.begin(), v.loss_mask.end());
    r.pixels.assign(v.pixels.begin(), v.pixels.end());
    r.image_height = v.image_height;
    r.image_width = v.image_width;
    r.doc_flags = v.doc_flags;
    r.len_a = v.len_a;
    r.is_next = v.is_next;
    return r;
  }
  bool operator==(const OwnedRecord&) const = default;
};

// Random, valid records of a kind with ids below vocab_size.
inline std::vector<OwnedRecord> random_records(io::RecordKind kind, uint32_t vocab_size, size_t count,
                                               uint64_t seed, size_t max_len = 300) {
  std::mt19937_64 rng(seed);
  const auto uniform = [&](uint64_t n) { return uint64_t(rng() % n); };
  std::vector<OwnedRecord> out(count);
  for (OwnedRecord& r : out) {
    const size_t len = kind == io::RecordKind::kWindows ? max_len : uniform(max_len) + (kind == io::RecordKind::kDocs ? 0 : 1);
    r.ids.resize(len);
    for (uint32_t& id : r.ids) id = uint32_t(uniform(vocab_size));
    switch (kind) {
      case io::RecordKind::kDocs: {
        size_t left = len;
        while (left > 0) {
          const size_t s = std::min<size_t>(left, uniform(40));
          r.sentence_lens.push_back(uint32_t(s));  // zero-length sentences are allowed too
          left -= s;
        }
        if (len == 0 && uniform(2)) r.sentence_lens.push_back(0);
        break;
      }
      case io::RecordKind::kMasked:
        for (uint32_t p = 0; p < len; ++p)
          if (uniform(7) == 0) {
            r.positions.push_back(p);
            r.labels.push_back(uint32_t(uniform(vocab_size)));
          }
        [[fallthrough]];
      case io::RecordKind::kPairs:
        r.len_a = uint32_t(uniform(len + 1));
        r.is_next = int8_t(uniform(3)) - 1;
        break;
      case io::RecordKind::kChat: {
        size_t left = len;
        while (left > 0) {
          const size_t c = std::min<size_t>(left, 1 + uniform(60));
          r.sentence_lens.push_back(uint32_t(c));
          left -= c;
        }
        r.loss_mask.resize(len);
        for (uint8_t& m : r.loss_mask) m = uint8_t(uniform(2));
        break;
      }
      case io::RecordKind::kPrefs: {
        // A prompt (maybe empty), then pairs of non-empty completions.
        const size_t pairs = 1 + uniform(3);
        r.ids.resize(len + 2 * pairs);
        for (uint32_t& id : r.ids) id = uint32_t(uniform(vocab_size));
        size_t left = r.ids.size() - 2 * pairs;
        r.sentence_lens.push_back(uint32_t(uniform(left + 1)));
        left -= r.sentence_lens.back();
        for (size_t c = 0; c < 2 * pairs; ++c) {
          const size_t extra = c + 1 == 2 * pairs ? left : uniform(left + 1);
          r.sentence_lens.push_back(uint32_t(1 + extra));
          left -= extra;
        }
        break;
      }
      case io::RecordKind::kImages:
        r.loss_mask.resize(len);
        for (uint8_t& m : r.loss_mask) m = uint8_t(uniform(2));
        r.image_height = uint32_t(1 + uniform(40));
        r.image_width = uint32_t(1 + uniform(40));
        r.pixels.resize(3 * size_t(r.image_height) * r.image_width);
        for (uint8_t& p : r.pixels) p = uint8_t(uniform(256));
        break;
      case io::RecordKind::kWindows:
        break;
    }
  }
  return out;
}

inline std::vector<uint8_t> write_shard(const io::ShardHeader& header, const std::vector<OwnedRecord>& records,
                                        io::WriterOptions options = {}) {
  MemorySink sink;
  io::ShardWriter writer(sink, header, options);
  for (const OwnedRecord& r : records) writer.write(r.view());
  writer.finish();
  return std::vector<uint8_t>(sink.bytes.begin(), sink.bytes.end());
}

inline std::vector<OwnedRecord> read_all(const std::vector<uint8_t>& bytes, io::ReaderOptions options = {},
                                         std::vector<io::ShardHeader>* headers = nullptr) {
  io::ShardReader reader(InputStream::from_memory("mem", bytes), std::move(options));
  std::vector<OwnedRecord> out;
  io::RecordView v;
  while (reader.next(v)) out.push_back(OwnedRecord::from(v));
  if (headers) *headers = reader.headers();
  return out;
}

// The error message reading bytes produces, or "" if they read without error.
inline std::string read_error(const std::vector<uint8_t>& bytes, io::ReaderOptions options = {}) {
  try {
    read_all(bytes, std::move(options));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace lmpipe::test
