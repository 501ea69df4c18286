#pragma once
// Reading docs shards back as sentences and documents: the pieces a writer cut a long document into
// (kDocContinues, kSentenceContinues) are joined again, so example builders see whole sentences and
// know where documents end.
#include <cstdint>
#include <span>
#include <vector>

#include "io/shard_reader.h"

namespace lmpipe::data {

class SentenceReader {
 public:
  // Sentences longer than max_sentence ids come out as several consecutive sentences, so memory stays
  // bounded even for a whole book stored as one sentence.
  explicit SentenceReader(io::ShardReader& reader, size_t max_sentence = size_t(1) << 20);
  // The next sentence (possibly empty) and whether it ends its document; false at the end of input.
  bool next(std::vector<uint32_t>& sentence, bool& document_ends);

 private:
  // A sentence, or the part of one, that one record holds.
  struct Fragment {
    std::span<const uint32_t> ids;
    bool sentence_ends = true;
    bool document_ends = false;
  };
  bool next_fragment(Fragment& fragment);

  io::ShardReader& reader_;
  size_t max_sentence_;
  io::RecordView record_;
  bool have_record_ = false, end_reported_ = false;
  size_t index_ = 0, offset_ = 0;  // next sentence of record_, and its first id
  Fragment pending_;
  bool have_pending_ = false;
};

struct Document {
  std::vector<uint32_t> ids;
  std::vector<uint64_t> sentence_start{0};  // sentences + 1 offsets into ids
  size_t sentences() const { return sentence_start.size() - 1; }
  std::span<const uint32_t> sentence(size_t i) const {
    return std::span<const uint32_t>(ids).subspan(sentence_start[i], sentence_start[i + 1] - sentence_start[i]);
  }
  void clear() {
    ids.clear();
    sentence_start.assign(1, 0);
  }
};

// Whole documents with their empty sentences dropped; empty documents are skipped (as
// create_pretraining_data.py does).
class DocumentReader {
 public:
  explicit DocumentReader(io::ShardReader& reader) : sentences_(reader) {}
  bool next(Document& document);

 private:
  SentenceReader sentences_;
  std::vector<uint32_t> sentence_;
};

}  // namespace lmpipe::data
