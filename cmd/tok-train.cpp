// tok-train: train a byte-level BPE or WordPiece tokenizer. Flags here; the work is lib/tok/train_job.cpp.
#include <string>
#include <vector>

#include "core/cli.h"
#include "core/error.h"
#include "tok/train_job.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Train a byte-level BPE (GPT-2, RoBERTa) or WordPiece (BERT) tokenizer and write its files into DIR.",
               "tok-train"};
  CommonOptions common;
  std::vector<std::string> inputs, specials, added;
  std::string model, extend;
  bool cased = false;
  tok::TrainOptions options;
  add_common_options(app, common, "Directory for the vocabulary files (created if missing)");
  app.get_option("--output")->required()->type_name("DIR");
  app.add_option("--model", model, "bpe (vocab.json + merges.txt) or wordpiece (vocab.txt)")
      ->check(CLI::IsMember({"bpe", "wordpiece"}));
  app.add_option("--vocab-size", options.vocab_size, "Tokens in all: special tokens, alphabet and merges")
      ->check(at_least(1));
  auto* extend_option =
      app.add_option("--extend", extend,
                     "Instead of training: write VOCAB with the --add-special tokens appended after its last id")
          ->type_name("VOCAB");
  app.add_option("--add-special", added, "With --extend: a special token to append (repeat for several)")
      ->type_name("TOKEN")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->needs(extend_option);
  app.add_option("--min-frequency", options.min_frequency, "Pairs seen fewer times are not merged")
      ->capture_default_str();
  // One value per occurrence, comma-separated: CLI11 would otherwise read "[CLS]" as a one-element list.
  app.add_option("--special-tokens", specials,
                 "Special tokens, comma-separated or repeated, given ids 0, 1, ... in order (default BPE: "
                 "<|endoftext|>; WordPiece: BERT's [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103 with "
                 "[unusedN] between)")
      ->type_name("TOKEN,...")
      ->allow_extra_args(false)
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* lower = app.add_flag("--lowercase", options.lowercase, "WordPiece: uncased (the default)");
  app.add_flag("--cased", cased, "WordPiece: keep case and accents")->excludes(lower);
  app.add_option("--limit-alphabet", options.limit_alphabet,
                 "Keep only the N most frequent characters (default: BPE all 256 bytes, WordPiece 1000)");
  app.add_option("files", inputs, "Training text ('-' or none: stdin); read a line at a time")->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    if (!extend.empty()) {
      if (!model.empty() || app.count("--vocab-size") || !specials.empty() || !inputs.empty())
        throw UsageError("--extend writes an existing vocabulary with tokens added: it takes no --model, "
                         "--vocab-size, --special-tokens or training files");
      if (added.empty()) throw UsageError("--extend needs the tokens to add: --add-special TOKEN");
      const size_t appended = tok::extend_vocabulary(extend, added, !cased, common.output);
      if (!common.quiet && appended < added.size())
        std::fprintf(stderr, "tok-train: %zu of the %zu tokens were in the vocabulary already and keep their ids\n",
                     added.size() - appended, added.size());
      return;
    }
    if (model.empty() || !app.count("--vocab-size"))
      throw UsageError("--model and --vocab-size are required to train (or --extend VOCAB to add tokens)");
    options.model = model == "bpe" ? tok::ModelKind::kBpe : tok::ModelKind::kWordPiece;
    if (cased) options.lowercase = false;
    if (!specials.empty()) options.special_tokens = specials;
    options.threads = common.thread_count();
    options.show_progress = common.show_progress();
    tok::train_tokenizer(inputs, options, common.output);
  });
}
