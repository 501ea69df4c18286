#pragma once
// Records to the arrays nn::Bert takes, for one batch of one length. BERT pairs ([CLS] A [SEP] B [SEP])
// get segment 0 through the first [SEP] and 1 after it, and the NSP label 0 when B follows A (the shard's
// is_next 1) or 1 when B is random, as HuggingFace's head means them. Sequences are padded to the batch
// length with the pad id, and padding is masked out of attention. Masked records (mask-corpus: static
// masking) bring their positions and labels; pairs records are masked here, anew every time they are fed
// (dynamic masking), by the same Masker mask-corpus uses.
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/masking.h"
#include "io/shard_record.h"
#include "nn/bert.h"

namespace lmpipe::train {

class EncoderBatchBuilder {
 public:
  EncoderBatchBuilder(nn::EncoderArch arch, uint32_t pad_id) : arch_(arch), pad_id_(pad_id) {}

  // Empties the batch; every sequence added next is padded to length.
  void start(size_t length);
  // Adds one record. With a masker, masks r's ids drawing from rng; without, r must be a masked record.
  // Throws Error naming path when the record does not fit (too long, no NSP label for BERT, ...).
  void add(const io::RecordView& r, const std::string& path, const data::Masker* masker, Rng& rng);

  // Views of the builder's arrays: valid until the next start or add.
  nn::EncoderBatch batch() const;
  size_t sequences() const { return nsp_labels_.size(); }
  size_t masked() const { return mlm_rows_.size(); }
  size_t tokens() const { return tokens_; }  // not counting padding

 private:
  nn::EncoderArch arch_;
  uint32_t pad_id_;
  size_t length_ = 0, tokens_ = 0;
  std::vector<uint32_t> ids_, segments_, mlm_rows_, mlm_labels_, nsp_labels_;
  std::vector<uint8_t> attend_;
  std::vector<uint32_t> masked_ids_, positions_, labels_;  // dynamic masking's scratch
};

}  // namespace lmpipe::train
