#pragma once
// make-pairs' work: docs shards in, training examples out (pairs for BERT and RoBERTa, windows for GPT),
// streaming with memory bounded by the flags.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/output_file.h"
#include "core/progress.h"

namespace lmpipe::data {

enum class Task { kNsp, kFullSentences, kDocSentences, kCausal };

struct PairsOptions {
  Task task = Task::kCausal;
  size_t max_len = 128;
  double short_seq_prob = 0.1;
  uint32_t dupe_factor = 1;
  size_t stride = 0;          // causal; 0: max_len (consecutive windows share one id)
  size_t buffer_docs = 10000;  // nsp
  uint64_t seed = 0;
};

struct PairsSummary {
  uint64_t records = 0, tokens = 0, dropped = 0;
};

// Reads the docs shards in inputs ("-": stdin, kept in a temporary file when --dupe-factor needs it
// again), builds the task's examples and writes one shard to out.
PairsSummary make_pairs(const std::vector<std::string>& inputs, const PairsOptions& options, ByteSink& out,
                        const nlohmann::json& provenance, Progress& progress);

}  // namespace lmpipe::data
