#include "data/example_builders.h"

#include <algorithm>

namespace lmpipe::data {

// --- NspPairMaker ------------------------------------------------------------------------------------------

NspPairMaker::NspPairMaker(NspOptions options, Rng& rng, Emit emit)
    : options_(options), rng_(rng), emit_(std::move(emit)) {}

void NspPairMaker::run(DocumentReader& documents) {
  // Fill the buffer, then take unprocessed documents from it at random, refilling each place from the
  // stream. Once the stream is dry, processed documents stay as sources of random next segments.
  Document next;
  while (buffer_.size() < std::max<size_t>(options_.buffer_docs, 1) && documents.next(next)) buffer_.push_back(next);
  std::vector<size_t> pending(buffer_.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  bool stream_dry = false;
  while (!pending.empty()) {
    const size_t pick = rng_.below(pending.size());
    const size_t doc = pending[pick];
    make_pairs(doc);
    if (!stream_dry && documents.next(next)) {
      std::swap(buffer_[doc], next);  // the new document takes the place (still pending)
    } else {
      stream_dry = true;
      pending[pick] = pending.back();
      pending.pop_back();
    }
  }
}

size_t NspPairMaker::other_document(size_t doc) {
  // Uniform over the other buffered documents; the document itself only when it is alone (the
  // reference falls back to it after ten unlucky draws).
  if (buffer_.size() < 2) return doc;
  const size_t r = rng_.below(buffer_.size() - 1);
  return r >= doc ? r + 1 : r;
}

void NspPairMaker::truncate(size_t max_tokens) {
  // truncate_seq_pair: shorten the longer segment (B on a tie), at the front or the back at random.
  while ((a_end_ - a_begin_) + (b_end_ - b_begin_) > max_tokens) {
    const bool cut_a = a_end_ - a_begin_ > b_end_ - b_begin_;
    size_t& begin = cut_a ? a_begin_ : b_begin_;
    size_t& end = cut_a ? a_end_ : b_end_;
    if (rng_.uniform() < 0.5) ++begin;
    else --end;
  }
}

void NspPairMaker::make_pairs(size_t doc_index) {
  const Document& doc = buffer_[doc_index];
  const size_t max_tokens = options_.max_len - 3;
  size_t target = max_tokens;
  if (rng_.uniform() < options_.short_seq_prob) target = size_t(rng_.between(2, int64_t(max_tokens)));
  size_t chunk_begin = 0, current_length = 0;  // the chunk is sentences [chunk_begin, i]
  for (size_t i = 0; i < doc.sentences(); ++i) {
    current_length += doc.sentence(i).size();
    if (i + 1 < doc.sentences() && current_length < target) continue;
    const size_t chunk = i + 1 - chunk_begin;
    const size_t a_sentences = chunk >= 2 ? size_t(rng_.between(1, int64_t(chunk) - 1)) : 1;
    a_.assign(doc.ids.begin() + long(doc.sentence_start[chunk_begin]),
              doc.ids.begin() + long(doc.sentence_start[chunk_begin + a_sentences]));
    b_.clear();
    bool random_next = false;
    if (chunk == 1 || rng_.uniform() < 0.5) {
      random_next = true;
      const size_t target_b = target > a_.size() ? target - a_.size() : 0;
      const Document& other = buffer_[other_document(doc_index)];
      for (size_t j = rng_.below(other.sentences()); j < other.sentences(); ++j) {
        const auto s = other.sentence(j);
        b_.insert(b_.end(), s.begin(), s.end());
        if (b_.size() >= target_b) break;
      }
      i -= chunk - a_sentences;  // put the unused sentences back
    } else {
      b_.assign(doc.ids.begin() + long(doc.sentence_start[chunk_begin + a_sentences]),
                doc.ids.begin() + long(doc.sentence_start[i + 1]));
    }
    a_begin_ = 0, a_end_ = a_.size(), b_begin_ = 0, b_end_ = b_.size();
    truncate(max_tokens);
    record_.clear();
    record_.push_back(options_.cls);
    record_.insert(record_.end(), a_.begin() + long(a_begin_), a_.begin() + long(a_end_));
    record_.push_back(options_.sep);
    record_.insert(record_.end(), b_.begin() + long(b_begin_), b_.begin() + long(b_end_));
    record_.push_back(options_.sep);
    io::RecordView r;
    r.ids = record_;
    r.len_a = uint32_t(a_end_ - a_begin_ + 2);
    r.is_next = random_next ? 0 : 1;
    emit_(r);
    chunk_begin = i + 1;
    current_length = 0;
  }
}

// --- SentencePacker ----------------------------------------------------------------------------------------

SentencePacker::SentencePacker(size_t max_len, uint32_t bos, uint32_t eos, bool cross_documents, Emit emit)
    : capacity_(max_len - 1), bos_(bos), eos_(eos), cross_documents_(cross_documents), emit_(std::move(emit)) {}

void SentencePacker::flush() {
  if (block_.empty()) return;
  block_.insert(block_.begin(), bos_);
  io::RecordView r;
  r.ids = block_;
  emit_(r);
  block_.clear();
}

void SentencePacker::add_item(std::span<const uint32_t> item) {
  if (!block_.empty() && block_.size() + item.size() > capacity_) flush();
  if (item.size() <= capacity_) {
    block_.insert(block_.end(), item.begin(), item.end());
    return;
  }
  for (size_t at = 0; at < item.size(); at += capacity_) {  // a sentence longer than a block
    const auto part = item.subspan(at, std::min(capacity_, item.size() - at));
    block_.assign(part.begin(), part.end());
    if (at + capacity_ < item.size()) flush();
  }
}

void SentencePacker::add_sentence(std::span<const uint32_t> ids) {
  item_.assign(ids.begin(), ids.end());
  item_.push_back(eos_);
  add_item(item_);
}

void SentencePacker::end_document() {
  if (cross_documents_) {
    add_item(std::span<const uint32_t>(&eos_, 1));  // the blank line's </s> that marks a document boundary
  } else {
    flush();
  }
}

void SentencePacker::finish() { flush(); }

// --- WindowCutter ------------------------------------------------------------------------------------------

WindowCutter::WindowCutter(size_t window, size_t stride, uint32_t eot, Emit emit)
    : window_(window), stride_(stride), eot_(eot), emit_(std::move(emit)) {}

void WindowCutter::push(uint32_t id) {
  buffer_.push_back(id);
  while (base_ + buffer_.size() >= next_ + window_) {
    io::RecordView r;
    r.ids = std::span<const uint32_t>(buffer_).subspan(next_ - base_, window_);
    emit_(r);
    next_ += stride_;
  }
  // Keep the buffer short: drop what no window will need again.
  if (next_ - base_ >= (1u << 16) && next_ - base_ >= buffer_.size() / 2) {
    const size_t drop = std::min<uint64_t>(next_ - base_, buffer_.size());
    buffer_.erase(buffer_.begin(), buffer_.begin() + long(drop));
    base_ += drop;
  }
}

void WindowCutter::add(std::span<const uint32_t> ids) {
  if (ids.empty()) return;
  if (!document_open_) {
    if (started_) push(eot_);  // between documents
    started_ = document_open_ = true;
  }
  for (uint32_t id : ids) push(id);
}

}  // namespace lmpipe::data
