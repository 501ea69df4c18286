#pragma once
// Training records from shards (windows for GPT, pairs or masked for BERT and RoBERTa), epoch after
// epoch. With shuffling, each epoch visits the blocks of every file in a random order (through the
// end-of-shard indexes, so inputs must be regular files) and draws records at random from a pool of a
// few blocks; without it, records come in file order. Every draw is keyed by (seed, epoch, draw), so the
// state is two numbers and a resumed run continues exactly where it stopped.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/shard_file.h"

namespace lmpipe::train {

class RecordLoader {
 public:
  // kinds: the record kinds the caller takes; every file must hold one of them, with one vocabulary.
  RecordLoader(std::vector<std::string> paths, std::vector<io::RecordKind> kinds, bool shuffle, uint64_t seed);

  // Hands the next `count` records to visit, with the file each comes from (for messages). The record's
  // storage lives until visit returns.
  using Visitor = std::function<void(const io::RecordView& record, const std::string& path)>;
  void next(size_t count, const Visitor& visit);
  // Draws the next `count` records without handing them out (another rank takes them).
  void skip(uint64_t count);
  uint64_t records() const { return total_records_; }
  const std::vector<std::string>& paths() const { return paths_; }
  const io::ShardHeader& header() const { return files_.front()->headers().front(); }

  nlohmann::json state() const { return {{"epoch", epoch_}, {"draws", draws_}}; }
  void restore(const nlohmann::json& state);

  static constexpr size_t kPoolRecords = 16384;  // records the random draws choose from

 private:
  struct BlockRef {
    uint32_t file, block;
  };
  void start_epoch();
  bool fill_pool();                       // false when the epoch has no blocks left
  std::pair<uint32_t, uint32_t> draw();   // (order index, record)
  const io::Block& block(uint32_t order_index);

  std::vector<std::string> paths_;
  std::vector<std::unique_ptr<io::ShardFile>> files_;
  bool shuffle_;
  uint64_t seed_;
  uint64_t total_records_ = 0;
  std::vector<BlockRef> order_;  // this epoch's blocks
  uint64_t epoch_ = 0, draws_ = 0;
  size_t next_block_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> pool_;
  size_t pool_front_ = 0;  // without shuffling, the pool is drawn in order from here
  std::map<uint32_t, std::pair<std::unique_ptr<io::Block>, size_t>> loaded_;  // block, records not yet drawn
};

}  // namespace lmpipe::train
