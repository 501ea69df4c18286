// mask-corpus: pairs shards -> a masked shard, google-research/bert's static masking. Flags here; the
// work is lib/data/mask_job.cpp and lib/data/masking.cpp.
#include <optional>
#include <string>
#include <vector>

#include "core/cli.h"
#include "core/error.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "core/progress.h"
#include "data/mask_job.h"
#include "tok/vocab.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Mask pairs shards for BERT's masked-language-model objective, as google-research/bert's "
               "create_pretraining_data.py does (static masking).",
               "mask-corpus"};
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string vocab_spec;
  data::MaskOptions masking;
  std::string random_pool = "all";
  add_common_options(app, common, "Write the masked shard to FILE instead of stdout");
  app.add_option("--mask-prob", masking.mask_prob,
                 "Share of tokens to predict: round(len * P) positions, at least 1, [CLS]/[SEP] counted in len")
      ->check(in_range(0, 1, true, true))
      ->capture_default_str();
  app.add_option("--max-predictions", masking.max_predictions, "At most N positions per record (0: no cap)")
      ->capture_default_str();
  app.add_flag("--whole-word", masking.whole_word,
               "Mask whole words: a WordPiece ## token or a BPE token without a leading space goes with the "
               "token before it (needs -v)");
  app.add_option("--random-pool", random_pool,
                 "Where the 10% random replacements come from: all (the whole vocabulary, as BERT) or non-special "
                 "(every id but the special tokens, as fairseq)")
      ->check(CLI::IsMember({"all", "non-special"}))
      ->capture_default_str();
  app.add_option("-v,--vocab", vocab_spec,
                 "Vocabulary (directory, file or shipped name) the shards were made with; needed for --whole-word")
      ->type_name("VOCAB");
  app.add_option("files", inputs, "Pairs shards to read ('-' or none: stdin); they read as one stream")
      ->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    if (masking.whole_word && vocab_spec.empty())
      throw UsageError("--whole-word needs the vocabulary (-v VOCAB) to tell which tokens continue a word");
    masking.random_pool = random_pool == "all" ? data::RandomPool::kAll : data::RandomPool::kNonSpecial;
    std::optional<tok::Vocab> vocab;
    if (!vocab_spec.empty()) vocab = tok::load_vocab(vocab_spec);

    data::MaskJobOptions options;
    options.masking = masking;
    options.seed = common.seed;
    options.threads = common.thread_count();
    options.args.assign(argv + 1, argv + argc);
    OutputFile out(common.output, OutputContent::kBinary, inputs);
    Progress progress(common.show_progress(), "mask-corpus", total_input_bytes(inputs), Progress::Unit::kBytes);
    data::mask_shards(inputs, vocab ? &*vocab : nullptr, options, out, progress);
    progress.finish();
    out.commit();
  });
}
