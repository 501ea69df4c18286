#pragma once
// The training examples of the three papers, built from a stream of sentences and documents:
//   NspPairMaker    BERT's sentence pairs with next-sentence labels (create_pretraining_data.py)
//   SentencePacker  RoBERTa's FULL-SENTENCES and DOC-SENTENCES blocks (fairseq's complete, complete_doc)
//   WindowCutter    GPT's input/target windows over the concatenated token stream
// Each hands its records to an emit callback, so the caller decides where they go.
#include <cstdint>
#include <functional>
#include <vector>

#include "core/rng.h"
#include "data/documents.h"
#include "io/shard_record.h"

namespace lmpipe::data {

using Emit = std::function<void(const io::RecordView&)>;

struct NspOptions {
  size_t max_len = 128;          // [CLS] A [SEP] B [SEP] fits in this many ids
  double short_seq_prob = 0.1;   // a document's target length is drawn from [2, max_len - 3] this often
  size_t buffer_docs = 10000;    // documents held for choosing current and "random next" ones
  uint32_t cls = 0, sep = 0;
};

// create_pretraining_data.py's create_instances_from_document, over a buffer of buffer_docs documents
// instead of the whole corpus: documents are taken from the buffer in random order (the reference
// shuffles them all) and a "random next" segment comes from another buffered document. Memory is the
// buffer, whatever the corpus size.
class NspPairMaker {
 public:
  NspPairMaker(NspOptions options, Rng& rng, Emit emit);
  void run(DocumentReader& documents);

 private:
  void make_pairs(size_t doc);
  size_t other_document(size_t doc);
  void truncate(size_t max_tokens);

  NspOptions options_;
  Rng& rng_;
  Emit emit_;
  std::vector<Document> buffer_;
  std::vector<uint32_t> a_, b_, record_;
  size_t a_begin_ = 0, a_end_ = 0, b_begin_ = 0, b_end_ = 0;  // the segments after truncation
};

// Packs whole sentences, each followed by eos, into blocks of at most max_len ids that start with bos:
// across document boundaries with an extra eos between documents (FULL-SENTENCES), or ending every
// block at a document's end (DOC-SENTENCES). A sentence too long for a block fills blocks of its own
// (fairseq would make one oversize block).
class SentencePacker {
 public:
  SentencePacker(size_t max_len, uint32_t bos, uint32_t eos, bool cross_documents, Emit emit);
  void add_sentence(std::span<const uint32_t> ids);
  void end_document();
  void finish();

 private:
  void add_item(std::span<const uint32_t> item);
  void flush();

  size_t capacity_;  // ids of a block after bos
  uint32_t bos_, eos_;
  bool cross_documents_;
  Emit emit_;
  std::vector<uint32_t> block_, item_;
};

// Concatenates documents with eot between them and cuts windows of `window` ids (max_len + 1, so that
// inputs and next-token targets are the window shifted by one), starting every `stride` ids. The ids
// after the last whole window are dropped.
class WindowCutter {
 public:
  WindowCutter(size_t window, size_t stride, uint32_t eot, Emit emit);
  void add(std::span<const uint32_t> ids);
  void end_document() { document_open_ = false; }
  // Ids after the end of the last window (all of them if there was none).
  uint64_t dropped() const {
    const uint64_t total = base_ + buffer_.size(), covered = next_ == 0 ? 0 : next_ - stride_ + window_;
    return total > covered ? total - covered : 0;
  }

 private:
  void push(uint32_t id);

  size_t window_, stride_;
  uint32_t eot_;
  Emit emit_;
  std::vector<uint32_t> buffer_;
  uint64_t base_ = 0, next_ = 0;  // stream positions of buffer_[0] and of the next window's start
  bool started_ = false, document_open_ = false;
};

}  // namespace lmpipe::data
