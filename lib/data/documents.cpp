#include "data/documents.h"

#include <algorithm>

namespace lmpipe::data {

SentenceReader::SentenceReader(io::ShardReader& reader, size_t max_sentence)
    : reader_(reader), max_sentence_(std::max<size_t>(max_sentence, 1)) {}

bool SentenceReader::next_fragment(Fragment& f) {
  for (;;) {
    if (have_record_ && index_ < record_.sentence_lens.size()) {
      const uint32_t len = record_.sentence_lens[index_];
      const bool last = index_ + 1 == record_.sentence_lens.size();
      f.ids = record_.ids.subspan(offset_, len);
      f.sentence_ends = !(last && (record_.doc_flags & io::kSentenceContinues));
      f.document_ends = last && !(record_.doc_flags & io::kDocContinues);
      offset_ += len;
      ++index_;
      return true;
    }
    // A record of no sentences still ends its document.
    if (have_record_ && record_.sentence_lens.empty() && !(record_.doc_flags & io::kDocContinues) && !end_reported_) {
      end_reported_ = true;
      f = Fragment{{}, true, true};
      return true;
    }
    if (!reader_.next(record_)) return false;
    have_record_ = true;
    end_reported_ = false;
    index_ = offset_ = 0;
  }
}

bool SentenceReader::next(std::vector<uint32_t>& sentence, bool& document_ends) {
  sentence.clear();
  for (;;) {
    if (!have_pending_) {
      if (!next_fragment(pending_)) {
        document_ends = true;
        return !sentence.empty();
      }
      have_pending_ = true;
    }
    const size_t take = std::min(pending_.ids.size(), max_sentence_ - sentence.size());
    sentence.insert(sentence.end(), pending_.ids.begin(), pending_.ids.begin() + long(take));
    pending_.ids = pending_.ids.subspan(take);
    if (!pending_.ids.empty()) {  // full: the rest comes as the next sentence
      document_ends = false;
      return true;
    }
    have_pending_ = false;
    if (pending_.sentence_ends) {
      document_ends = pending_.document_ends;
      return true;
    }
    if (sentence.size() == max_sentence_) {
      document_ends = false;
      return true;
    }
  }
}

bool DocumentReader::next(Document& document) {
  document.clear();
  bool ends = false;
  while (sentences_.next(sentence_, ends)) {
    if (!sentence_.empty()) {
      document.ids.insert(document.ids.end(), sentence_.begin(), sentence_.end());
      document.sentence_start.push_back(document.ids.size());
    }
    if (ends && document.sentences() > 0) return true;
  }
  return document.sentences() > 0;
}

}  // namespace lmpipe::data
