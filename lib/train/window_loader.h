#pragma once
// Batches of training windows from windows shards (make-pairs --task causal), epoch after epoch. With
// shuffling, each epoch visits the blocks of every file in a random order (through the end-of-shard
// indexes, so inputs must be regular files) and draws windows at random from a pool of a few blocks;
// without it, windows come in file order. Every draw is keyed by (seed, epoch, draw), so the state is
// two numbers and a resumed run continues exactly where it stopped.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/shard_file.h"

namespace lmpipe::train {

class WindowLoader {
 public:
  // window: ids per window the model wants (max_len + 1); every record must have that many.
  WindowLoader(std::vector<std::string> paths, size_t window, bool shuffle, uint64_t seed);

  // The next `count` windows, appended to ids (count * window ids).
  void next(size_t count, std::vector<uint32_t>& ids);
  uint64_t windows() const { return total_windows_; }
  const shard::ShardHeader& header() const { return files_.front()->headers().front(); }

  nlohmann::json state() const { return {{"epoch", epoch_}, {"draws", draws_}}; }
  void restore(const nlohmann::json& state);

  static constexpr size_t kPoolWindows = 16384;  // windows the random draws choose from

 private:
  struct BlockRef {
    uint32_t file, block;
  };
  void start_epoch();
  bool fill_pool();                       // false when the epoch has no blocks left
  std::pair<uint32_t, uint32_t> draw();   // (order index, record)
  const shard::Block& block(uint32_t order_index);

  std::vector<std::string> paths_;
  std::vector<std::unique_ptr<shard::ShardFile>> files_;
  size_t window_;
  bool shuffle_;
  uint64_t seed_;
  uint64_t total_windows_ = 0;
  std::vector<BlockRef> order_;  // this epoch's blocks
  uint64_t epoch_ = 0, draws_ = 0;
  size_t next_block_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> pool_;
  size_t pool_front_ = 0;  // without shuffling, the pool is drawn in order from here
  std::map<uint32_t, std::pair<std::unique_ptr<shard::Block>, size_t>> loaded_;  // block, windows not yet drawn
};

}  // namespace lmpipe::train
