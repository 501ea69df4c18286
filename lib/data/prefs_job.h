#pragma once
// make-prefs's work: preference pairs in JSON lines to a prefs shard (a prompt in the chat template and
// the chosen and rejected replies), encoded in parallel chunk by chunk and written in input order, with
// bounded memory; or, for rollouts, the prompts alone as a chat shard.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "io/shard_header.h"
#include "io/shard_writer.h"
#include "tok/chat_template.h"
#include "tok/tokenizer.h"

namespace lmpipe::data {

struct PrefsOptions {
  size_t max_len = 1024;  // ids of a prompt and its longest completion, at most
  bool prompts_only = false;  // a chat shard of the prompts (no completions, an all-0 loss mask)
  // Consecutive pairs of the same prompt form one record, up to this many pairs (InstructGPT trains on
  // a prompt's comparisons together); 1 keeps every pair a record of its own.
  size_t group = 64;
  bool skip_bad = false;  // count bad lines instead of stopping at the first
  int threads = 1;
  size_t chunk_bytes = 1 << 20;
};

struct PrefsSummary {
  uint64_t pairs = 0, records = 0, tokens = 0;
  uint64_t prompts_cut = 0;      // records whose prompt lost ids from its start to fit max_len
  uint64_t completions_cut = 0;  // records whose completions lost ids from their end as well
  uint64_t skipped = 0;          // bad lines, with skip_bad
};

// The header of the shard make_prefs writes: kind prefs, or chat for prompts_only.
io::ShardHeader prefs_header(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                             const PrefsOptions& options, nlohmann::json provenance);

// Reads the JSON lines of inputs ("-": stdin; blank lines skipped) and writes their pairs. A bad line is
// an Error "FILE:LINE: what", or with skip_bad is counted and left out.
PrefsSummary make_prefs(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                        const std::vector<std::string>& inputs, const PrefsOptions& options, io::ShardWriter& writer,
                        Progress& progress);

}  // namespace lmpipe::data
