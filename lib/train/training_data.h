#pragma once
// A run's shard files, looked at before training: glob patterns expanded, one record kind and one
// vocabulary checked, and the files grouped by the sequence length make-pairs gave them (the header's
// max_len), so that a sequence-length schedule finds the files for each of its lengths; and the loaders
// that draw each step's records from them.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/shard_header.h"
#include "train/record_loader.h"
#include "train/seq_len_schedule.h"

namespace lmpipe::train {

// Files and glob patterns, in order; a pattern that matches nothing is an error.
std::vector<std::string> expand_patterns(const std::vector<std::string>& patterns);

struct DataSet {
  std::vector<std::string> paths;
  io::ShardHeader header;                             // the first file's first header
  std::map<size_t, std::vector<std::string>> by_length;  // sequence length -> files
  size_t max_length() const { return by_length.empty() ? 0 : by_length.rbegin()->first; }
};

// Reads the headers: every file must hold one of the kinds, all the same one, with the first file's
// vocabulary. A file's length is its header's max_len: a window's inputs, a pair's or block's ids, a chat
// record's ids but the last (its inputs).
DataSet inspect_data(const std::vector<std::string>& paths, const std::vector<io::RecordKind>& kinds);

class TrainingData {
 public:
  // One loader per length of the schedule, over the files of that length; with no schedule, one loader
  // over every file, at the longest length. Throws UsageError when a length has no files.
  TrainingData(const DataSet& data, const SeqLenSchedule& schedule, bool shuffle, uint64_t seed);

  size_t length_at(uint64_t step, uint64_t total) const;
  RecordLoader& loader(size_t length) { return *loaders_.at(length); }

  nlohmann::json state() const;  // {"<length>": loader state, ...}
  void restore(const nlohmann::json& state);

 private:
  SeqLenSchedule schedule_;
  size_t only_length_ = 0;  // no schedule
  std::map<size_t, std::unique_ptr<RecordLoader>> loaders_;
};

}  // namespace lmpipe::train
