#include "data/mask_job.h"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <span>

#include <fmt/format.h>

#include "core/error.h"
#include "io/shard_reader.h"
#include "io/shard_writer.h"

namespace lmpipe::data {
namespace {

std::string input_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

// The provenance of each input's first shard: the stream's first header, and a look at the header of
// every later input that is a regular file (a pipe cannot be read twice, so a later pipe is left out).
std::vector<nlohmann::json> parent_provenance(const std::vector<std::string>& inputs, const io::ShardHeader& first,
                                              const io::ReaderOptions& options) {
  std::vector<nlohmann::json> parents{first.provenance};
  for (size_t i = 1; i < inputs.size(); ++i) {
    std::error_code ec;
    if (inputs[i] == "-" || !std::filesystem::is_regular_file(inputs[i], ec)) continue;
    io::ReaderOptions peek_options = options;
    peek_options.decode = false;
    io::ShardReader peek({inputs[i]}, peek_options);
    parents.push_back(peek.header().provenance);
  }
  return parents;
}

// Per-thread buffers for one record's result.
struct Scratch {
  std::vector<uint32_t> ids, positions, labels;
};

}  // namespace

nlohmann::json masking_settings(const MaskOptions& options) {
  nlohmann::json j = nlohmann::json::object();
  j["mask_prob"] = options.mask_prob;
  j["max_predictions"] = options.max_predictions;
  j["whole_word"] = options.whole_word;
  j["random_pool"] = options.random_pool == RandomPool::kAll ? "all" : "non-special";
  j["count"] = options.probabilistic_count ? "probabilistic" : "google";
  j["split"] = {0.8, 0.1, 0.1};  // [MASK], unchanged, random
  return j;
}

MaskTotals mask_shards(const std::vector<std::string>& inputs, const tok::Vocab* vocab, const MaskJobOptions& options,
                       ByteSink& out, Progress& progress) {
  if (options.masking.whole_word && vocab == nullptr)
    throw UsageError("--whole-word needs the vocabulary (-v VOCAB) to tell which tokens continue a word");
  io::ReaderOptions reader_options;
  reader_options.accept = {io::RecordKind::kPairs};
  if (vocab != nullptr) {
    reader_options.vocab_fingerprint = vocab->fingerprint;
    reader_options.vocab_size = vocab->size();
  }
  io::ShardReader reader(inputs, reader_options);
  const io::ShardHeader first = reader.header();
  const std::string first_name = input_name(reader.paths().front());

  const auto mask_role = first.special_ids.find("mask");
  if (mask_role == first.special_ids.end())
    fail_at(first_name, 0,
            "the shard's vocabulary has no mask token ([MASK] or <mask>) among its special ids, so it cannot be masked");
  const Masker masker(first.vocab_size, mask_role->second, never_masked_ids(first.special_ids),
                      options.masking.whole_word ? word_continuations(*vocab) : std::vector<bool>{}, options.masking);

  io::ShardHeader header = first;
  header.kind = io::RecordKind::kMasked;
  header.extra["masking"] = masking_settings(options.masking);
  header.provenance = io::make_provenance("mask-corpus", options.args, options.seed,
                                             parent_provenance(reader.paths(), first, reader_options));
  io::ShardWriter writer(out, header);

  const int threads = std::max(1, options.threads);
  std::vector<Scratch> scratch(static_cast<size_t>(threads));
  std::vector<uint32_t> out_ids, out_positions, out_labels, counts;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  MaskTotals totals;
  size_t headers_checked = 1;
  while (const io::Block* block = reader.next_block()) {
    // Later shards in the stream share the vocabulary (the reader checks); their special ids must agree too.
    for (; headers_checked < reader.headers().size(); ++headers_checked)
      if (reader.headers()[headers_checked].special_ids != first.special_ids)
        throw Error(fmt::format("shard {} of the input stream has other special ids than the first shard",
                                headers_checked + 1));
    const size_t n = block->size();
    out_ids.resize(block->tokens.size());
    out_positions.resize(block->tokens.size());  // a record has at most as many positions as ids
    out_labels.resize(block->tokens.size());
    counts.resize(n);
    const uint64_t first_record = totals.records;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (size_t i = 0; i < n; ++i) {
      const auto thread = size_t(omp_get_thread_num());
      try {
        Scratch& s = scratch[thread];
        const size_t start = block->token_start[i];
        const std::span<const uint32_t> ids(block->tokens.data() + start, block->token_start[i + 1] - start);
        Rng rng(options.seed, {first_record + i});
        masker.mask(ids, rng, s.ids, s.positions, s.labels);
        std::copy(s.ids.begin(), s.ids.end(), out_ids.begin() + ptrdiff_t(start));
        std::copy(s.positions.begin(), s.positions.end(), out_positions.begin() + ptrdiff_t(start));
        std::copy(s.labels.begin(), s.labels.end(), out_labels.begin() + ptrdiff_t(start));
        counts[i] = uint32_t(s.positions.size());
      } catch (...) {  // only out of memory; an exception must not leave the parallel region
        errors[thread] = std::current_exception();
      }
    }
    for (auto& error : errors)
      if (error) std::rethrow_exception(error);

    for (size_t i = 0; i < n; ++i) {
      const io::RecordView in = block->record(i);
      const size_t start = block->token_start[i];
      io::RecordView r;
      r.ids = std::span<const uint32_t>(out_ids.data() + start, in.ids.size());
      r.len_a = in.len_a;
      r.is_next = in.is_next;
      r.positions = std::span<const uint32_t>(out_positions.data() + start, counts[i]);
      r.labels = std::span<const uint32_t>(out_labels.data() + start, counts[i]);
      writer.write(r);
      totals.masked += counts[i];
    }
    totals.records += n;
    totals.tokens += block->tokens.size();
    progress.update(reader.bytes_consumed());
  }
  writer.finish();
  return totals;
}

}  // namespace lmpipe::data
