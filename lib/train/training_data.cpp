#include "train/training_data.h"

#include <glob.h>

#include <fmt/format.h>

#include "core/error.h"
#include "io/shard_file.h"

namespace lmpipe::train {

std::vector<std::string> expand_patterns(const std::vector<std::string>& patterns) {
  std::vector<std::string> paths;
  for (const std::string& pattern : patterns) {
    glob_t g{};
    const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
    if (rc != 0) throw Error(fmt::format("no file matches {}", pattern));
  }
  return paths;
}

DataSet inspect_data(const std::vector<std::string>& paths, const std::vector<io::RecordKind>& kinds) {
  DataSet set;
  set.paths = paths;
  io::ReaderOptions options;
  options.accept = kinds;
  for (const std::string& path : paths) {
    io::ShardFile file(path, options);
    const io::ShardHeader& h = file.headers().front();
    if (&path == &paths.front()) set.header = h;
    if (h.kind != set.header.kind)
      throw Error(fmt::format("{}: a {} shard, but {} is a {} shard: give one kind of data", path, kind_name(h.kind),
                              paths.front(), kind_name(set.header.kind)));
    if (h.vocab_size != set.header.vocab_size ||
        (!h.vocab_fingerprint.empty() && !set.header.vocab_fingerprint.empty() && h.vocab_fingerprint != set.header.vocab_fingerprint))
      throw Error(fmt::format("{}: made with another vocabulary than {}", path, paths.front()));
    size_t length = 0;
    if (h.kind == io::RecordKind::kChat) {
      // Every id of a record but its last is an input.
      if (!h.extra.contains("max_len") || !h.extra["max_len"].is_number_unsigned() || h.extra["max_len"] < 2)
        throw Error(fmt::format("{}: a chat shard without a max_len of 2 or more (make it with make-chat --max-len)", path));
      length = h.extra["max_len"].get<size_t>() - 1;
    } else if (h.extra.contains("max_len") && h.extra["max_len"].is_number_unsigned()) {
      length = h.extra["max_len"].get<size_t>();
    } else if (h.kind == io::RecordKind::kWindows && !file.blocks().empty()) {
      io::Block block;  // a window shard not made by make-pairs: its first window says
      file.read_block(0, block);
      length = block.record(0).ids.size() - 1;
    } else {
      throw Error(fmt::format("{}: the header has no max_len (make the examples with make-pairs --max-len)", path));
    }
    set.by_length[length].push_back(path);
  }
  return set;
}

TrainingData::TrainingData(const DataSet& data, const SeqLenSchedule& schedule, bool shuffle, uint64_t seed)
    : schedule_(schedule) {
  if (schedule.empty()) {
    only_length_ = data.max_length();
    loaders_.emplace(only_length_, std::make_unique<RecordLoader>(data.paths, std::vector{data.header.kind}, shuffle, seed));
    return;
  }
  for (const size_t length : schedule.lengths()) {
    const auto files = data.by_length.find(length);
    if (files == data.by_length.end()) {
      std::string have;
      for (const auto& [l, f] : data.by_length) have += (have.empty() ? "" : ", ") + std::to_string(l);
      throw UsageError(fmt::format("--seq-len-schedule {}: no --data shard was made with --max-len {} (the data has {}); "
                                   "make one with make-pairs --max-len {}",
                                   schedule.spec(), length, have, length));
    }
    // Each length draws from its own stream, so a phase's data does not depend on the phases before it.
    loaders_.emplace(length, std::make_unique<RecordLoader>(files->second, std::vector{data.header.kind}, shuffle,
                                                            seed ^ (0x9E3779B97F4A7C15ULL * length)));
  }
}

size_t TrainingData::length_at(uint64_t step, uint64_t total) const {
  return schedule_.empty() ? only_length_ : schedule_.length_at(step, total);
}

nlohmann::json TrainingData::state() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [length, loader] : loaders_) j[std::to_string(length)] = loader->state();
  return j;
}

void TrainingData::restore(const nlohmann::json& state) {
  for (auto& [length, loader] : loaders_) {
    const std::string key = std::to_string(length);
    if (!state.contains(key)) throw Error(fmt::format("--resume: the trainer state has no data position for length {}", length));
    loader->restore(state[key]);
  }
}

}  // namespace lmpipe::train
