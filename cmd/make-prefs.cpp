// make-prefs: preference pairs in JSON lines -> a prefs shard (a prompt in the ChatML template, the chosen
// and the rejected reply) for reward models and DPO, or --prompts-only a chat shard of prompts for rollouts.
// Flags here; the work is lib/data/prefs_job.cpp.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/cli.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "data/prefs_job.h"
#include "io/shard_format.h"
#include "io/shard_header.h"
#include "tok/tokenizer.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Turn preference pairs (JSON lines of prompt, chosen, rejected) into a prefs shard for reward models "
               "and DPO, or their prompts into a chat shard for PPO rollouts.",
               "make-prefs"};
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string vocab_spec;
  data::PrefsOptions options;
  add_common_options(app, common, "Write the shard to FILE instead of stdout");
  app.add_option("-v,--vocab", vocab_spec,
                 "Vocabulary with <|im_start|> and <|im_end|> (tok-train --extend adds them)")
      ->type_name("VOCAB")
      ->required();
  app.add_option("--max-len", options.max_len,
                 "Ids of a prompt and its longest completion at most: the prompt loses ids from its start first")
      ->check(in_range(2, double(io::kMaxPayload / sizeof(uint32_t) / 4), true, true))
      ->capture_default_str();
  app.add_option("--group", options.group,
                 "Pairs of one prompt (consecutive lines) per record at most, trained on together; 1: a record a pair")
      ->check(in_range(1, 4096, true, true))
      ->capture_default_str();
  app.add_flag("--prompts-only", options.prompts_only,
               "Write the prompts alone, each once, as a chat shard for PPO's rollouts; chosen and rejected may be "
               "absent");
  app.add_flag("--skip-bad", options.skip_bad, "Leave out bad lines and count them, instead of stopping at the first");
  app.add_option("files", inputs, "JSON-lines files ('-' or none: stdin)")->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    options.threads = common.thread_count();
    const auto tokenizer = tok::Tokenizer::load(vocab_spec);
    const tok::ChatMlTemplate chat_template(*tokenizer);
    OutputFile out(common.output, OutputContent::kBinary, inputs);
    io::ShardWriter writer(
        out, data::prefs_header(*tokenizer, chat_template, options,
                                io::make_provenance("make-prefs", std::vector<std::string>(argv + 1, argv + argc),
                                                    common.seed)));
    Progress progress(common.show_progress(), "make-prefs", total_input_bytes(inputs), Progress::Unit::kBytes);
    const data::PrefsSummary summary = data::make_prefs(*tokenizer, chat_template, inputs, options, writer, progress);
    writer.finish();
    progress.finish();
    out.commit();
    if (common.quiet) return;
    const std::string skipped = options.skip_bad ? fmt::format(", {} bad lines left out", summary.skipped) : "";
    if (options.prompts_only)
      fmt::print(stderr, "make-prefs: {} prompts, {} ids; {} cut at --max-len{}\n", summary.records, summary.tokens,
                 summary.prompts_cut, skipped);
    else
      fmt::print(stderr, "make-prefs: {} pairs in {} records, {} ids; {} prompts cut at --max-len, {} with their "
                         "completions cut too{}\n",
                 summary.pairs, summary.records, summary.tokens, summary.prompts_cut, summary.completions_cut, skipped);
  });
}
