#include "train/record_loader.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"

namespace lmpipe::train {

RecordLoader::RecordLoader(std::vector<std::string> paths, std::vector<io::RecordKind> kinds, bool shuffle, uint64_t seed)
    : paths_(std::move(paths)), shuffle_(shuffle), seed_(seed) {
  if (paths_.empty()) throw UsageError("no training data: give --data");
  io::ReaderOptions options;
  options.accept = std::move(kinds);
  for (const std::string& path : paths_) {
    files_.push_back(std::make_unique<io::ShardFile>(path, options));
    const io::ShardHeader& h = files_.back()->headers().front();
    const io::ShardHeader& first = files_.front()->headers().front();
    if (h.vocab_size != first.vocab_size ||
        (!h.vocab_fingerprint.empty() && !first.vocab_fingerprint.empty() && h.vocab_fingerprint != first.vocab_fingerprint))
      throw Error(fmt::format("{}: made with another vocabulary than {}", path, paths_.front()));
    total_records_ += files_.back()->records();
  }
  if (total_records_ == 0) throw Error(fmt::format("{}: no records in the training data", paths_.front()));
  start_epoch();
}

void RecordLoader::start_epoch() {
  order_.clear();
  for (uint32_t f = 0; f < files_.size(); ++f)
    for (uint32_t b = 0; b < files_[f]->blocks().size(); ++b) order_.push_back({f, b});
  if (shuffle_) {
    Rng rng(seed_, {0x6c6f61646572ULL, epoch_});  // "loader"
    rng.shuffle(std::span<BlockRef>(order_));
  }
  next_block_ = 0;
  pool_.clear();
  pool_front_ = 0;
  loaded_.clear();
  draws_ = 0;
}

bool RecordLoader::fill_pool() {
  if (next_block_ >= order_.size()) return false;
  const BlockRef ref = order_[next_block_];
  const auto n = uint32_t(files_[ref.file]->blocks()[ref.block].records);
  for (uint32_t r = 0; r < n; ++r) pool_.emplace_back(uint32_t(next_block_), r);
  ++next_block_;
  return true;
}

std::pair<uint32_t, uint32_t> RecordLoader::draw() {
  for (;;) {
    while (pool_.size() - pool_front_ < (shuffle_ ? kPoolRecords : 1) && fill_pool()) {
    }
    if (pool_.size() > pool_front_) break;
    ++epoch_;  // every record of the epoch was drawn
    start_epoch();
  }
  std::pair<uint32_t, uint32_t> item;
  if (shuffle_) {
    Rng rng(seed_, {0x64726177ULL, epoch_, draws_});  // "draw"
    const size_t at = rng.below(pool_.size());
    item = pool_[at];
    pool_[at] = pool_.back();
    pool_.pop_back();
  } else {
    item = pool_[pool_front_++];
    if (pool_front_ == pool_.size()) {
      pool_.clear();
      pool_front_ = 0;
    }
  }
  ++draws_;
  return item;
}

const io::Block& RecordLoader::block(uint32_t order_index) {
  auto it = loaded_.find(order_index);
  if (it == loaded_.end()) {
    const BlockRef ref = order_[order_index];
    it = loaded_.emplace(order_index, std::make_pair(nullptr, files_[ref.file]->blocks()[ref.block].records)).first;
  }
  if (it->second.first == nullptr) {  // first drawn from here, or only skipped over so far
    const BlockRef ref = order_[order_index];
    auto decoded = std::make_unique<io::Block>();
    files_[ref.file]->read_block(ref.block, *decoded);
    it->second.first = std::move(decoded);
  }
  return *it->second.first;
}

void RecordLoader::next(size_t count, const Visitor& visit) {
  for (size_t i = 0; i < count; ++i) {
    const auto [order_index, record] = draw();
    const io::Block& b = block(order_index);
    visit(b.record(record), paths_[order_[order_index].file]);
    // A block whose records have all been drawn is freed.
    auto it = loaded_.find(order_index);
    if (--it->second.second == 0) loaded_.erase(it);
  }
}

void RecordLoader::skip(uint64_t count) {
  // Only indices move: a block is decoded when a record is first taken from it.
  for (uint64_t i = 0; i < count; ++i) {
    const uint32_t order_index = draw().first;
    auto it = loaded_.find(order_index);
    if (it == loaded_.end()) {
      const BlockRef ref = order_[order_index];
      it = loaded_.emplace(order_index, std::make_pair(nullptr, files_[ref.file]->blocks()[ref.block].records)).first;
    }
    if (--it->second.second == 0) loaded_.erase(it);
  }
}

void RecordLoader::restore(const nlohmann::json& state) {
  const uint64_t epoch = state.at("epoch").get<uint64_t>(), draws = state.at("draws").get<uint64_t>();
  epoch_ = epoch;
  start_epoch();
  skip(draws);
}

}  // namespace lmpipe::train
