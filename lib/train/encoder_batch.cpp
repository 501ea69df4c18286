#include "train/encoder_batch.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::train {

void EncoderBatchBuilder::start(size_t length) {
  length_ = length;
  tokens_ = 0;
  ids_.clear();
  segments_.clear();
  attend_.clear();
  mlm_rows_.clear();
  mlm_labels_.clear();
  nsp_labels_.clear();
}

void EncoderBatchBuilder::add(const io::RecordView& r, const std::string& path, const data::Masker* masker, Rng& rng) {
  const size_t n = r.ids.size();
  if (n > length_)
    throw Error(fmt::format("{}: a sequence of {} ids, longer than this batch's length {} (make-pairs --max-len)", path, n,
                            length_));
  const bool bert = arch_ == nn::EncoderArch::kBert;
  if (bert && r.is_next == io::kNoLabel)
    throw Error(fmt::format("{}: a sequence without a next-sentence label: --arch bert trains on make-pairs --task nsp "
                            "data (train other pairs with --arch roberta)",
                            path));
  std::span<const uint32_t> ids = r.ids, positions = r.positions, labels = r.labels;
  if (masker != nullptr) {
    masker->mask(r.ids, rng, masked_ids_, positions_, labels_);
    ids = masked_ids_;
    positions = positions_;
    labels = labels_;
  }
  const size_t row0 = sequences() * length_;
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ids_.resize(row0 + length_, pad_id_);
  attend_.resize(row0 + n, 1);
  attend_.resize(row0 + length_, 0);
  if (bert) {
    // Segment 0 is [CLS] A [SEP]; B and its [SEP] are segment 1; padding is 0 as in google-research/bert.
    const size_t first_b = std::min<size_t>(n, size_t(r.len_a) + 2);
    segments_.resize(row0 + first_b, 0);
    segments_.resize(row0 + n, 1);
    segments_.resize(row0 + length_, 0);
  }
  for (size_t i = 0; i < positions.size(); ++i) {
    if (positions[i] >= n) throw Error(fmt::format("{}: a masked position {} past the sequence's {} ids", path, positions[i], n));
    mlm_rows_.push_back(uint32_t(row0 + positions[i]));
    mlm_labels_.push_back(labels[i]);
  }
  nsp_labels_.push_back(r.is_next == 1 ? 0 : 1);
  tokens_ += n;
}

nn::EncoderBatch EncoderBatchBuilder::batch() const {
  nn::EncoderBatch b;
  b.ids = ids_.data();
  b.segments = arch_ == nn::EncoderArch::kBert ? segments_.data() : nullptr;
  b.attend = attend_.data();
  b.mlm_rows = mlm_rows_.data();
  b.mlm_labels = mlm_labels_.data();
  b.M = mlm_rows_.size();
  b.nsp_labels = arch_ == nn::EncoderArch::kBert ? nsp_labels_.data() : nullptr;
  b.B = sequences();
  b.Tn = length_;
  return b;
}

}  // namespace lmpipe::train
