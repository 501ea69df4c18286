#pragma once
// mask-corpus's work: pairs shards in, one masked shard out, google-research/bert's static masking done
// record by record in parallel. Record i of the stream draws from Rng(seed, {i}), so the output bytes do
// not depend on the thread count.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/output_file.h"
#include "core/progress.h"
#include "data/masking.h"
#include "io/shard_header.h"
#include "tok/vocab.h"

namespace lmpipe::data {

struct MaskJobOptions {
  MaskOptions masking;
  uint64_t seed = 0;
  int threads = 1;
  std::vector<std::string> args;  // the command line, for the output's provenance (less --threads and the like)
};

struct MaskTotals {
  uint64_t records = 0, tokens = 0, masked = 0;
};

// The settings a masked shard's header records under "masking".
nlohmann::json masking_settings(const MaskOptions& options);

// Reads the pairs shards at inputs ("-" or none: stdin) and writes one masked shard to out. vocab (may be
// null; required for whole-word masking) must be the shards' vocabulary. Throws Error
// ("FILE:OFFSET: what") for bad input, UsageError for options the input cannot honour.
MaskTotals mask_shards(const std::vector<std::string>& inputs, const tok::Vocab* vocab, const MaskJobOptions& options,
                       ByteSink& out, Progress& progress);

}  // namespace lmpipe::data
