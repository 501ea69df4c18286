// make-pairs: docs shards -> training examples (BERT pairs, RoBERTa blocks, GPT windows). Flags here; the
// work is lib/data/pairs_job.cpp.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/cli.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "io/shard_format.h"
#include "data/pairs_job.h"
#include "io/shard_header.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Turn docs shards (from tok-encode) into training examples: BERT sentence pairs with "
               "next-sentence labels, RoBERTa full-sentence blocks, or GPT input/target windows.",
               "make-pairs"};
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string task;
  data::PairsOptions options;
  add_common_options(app, common, "Write the shard to FILE instead of stdout");
  app.add_option("--task", task,
                 "nsp (BERT pairs), full-sentences / doc-sentences (RoBERTa blocks across / within documents), "
                 "causal (GPT windows)")
      ->check(CLI::IsMember({"nsp", "full-sentences", "doc-sentences", "causal"}))
      ->required();
  app.add_option("--max-len", options.max_len,
                 "Ids per example: a pair or block with its special tokens; a window has max-len + 1 (inputs and "
                 "targets)")
      // A record is stored whole in one block: its u32 ids must fit the format's largest payload.
      ->check(in_range(1, double(io::kMaxPayload / sizeof(uint32_t) - 1), true, true))
      ->required();
  app.add_option("--short-seq-prob", options.short_seq_prob,
                 "nsp: how often a document's target length is drawn at random from [2, max-len - 3]")
      ->check(in_range(0, 1, true, true))
      ->capture_default_str();
  app.add_option("--dupe-factor", options.dupe_factor, "Passes over the input, each with other random choices")
      ->capture_default_str();
  app.add_option("--stride", options.stride, "causal: ids between window starts (default: max-len)");
  app.add_option("--buffer-docs", options.buffer_docs,
                 "nsp: documents held at once, taken in random order and used for random next segments")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("files", inputs, "docs shards ('-' or none: stdin); they read as one stream")->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    options.task = task == "nsp"              ? data::Task::kNsp
                   : task == "full-sentences" ? data::Task::kFullSentences
                   : task == "doc-sentences"  ? data::Task::kDocSentences
                                              : data::Task::kCausal;
    options.seed = common.seed;
    OutputFile out(common.output, OutputContent::kBinary, inputs);
    Progress progress(common.show_progress(), "make-pairs", total_input_bytes(inputs) * options.dupe_factor,
                      Progress::Unit::kBytes);
    const data::PairsSummary summary = data::make_pairs(
        inputs, options, out,
        io::make_provenance("make-pairs", std::vector<std::string>(argv + 1, argv + argc), common.seed), progress);
    progress.finish();
    out.commit();
    if (!common.quiet && summary.dropped > 0)
      fmt::print(stderr, "make-pairs: {} records, {} ids; the last {} ids did not fill a window\n", summary.records,
                 summary.tokens, summary.dropped);
  });
}
