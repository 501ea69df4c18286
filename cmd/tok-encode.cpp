// tok-encode: text -> token shard (or id lines), and back with --decode. Flags here; the work is
// lib/tok/encode_job.cpp.
#include <filesystem>
#include <string>
#include <vector>

#include "core/cli.h"
#include "core/error.h"
#include "core/output_file.h"
#include "core/progress.h"
#include "io/shard_reader.h"
#include "io/shard_writer.h"
#include "tok/encode_job.h"
#include "tok/tokenizer.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Encode text into a shard of token ids (docs records), or id lines; --decode goes back.",
               "tok-encode"};
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string vocab_spec, format = "shard", jsonl_key;
  bool docs = false, lines = false, decode = false, add_special = false, cased = false, lowercase = false;
  bool google = false;
  tok::TokenizerOptions tokenizer_options;
  add_common_options(app, common, "Write to FILE instead of stdout");
  app.add_option("-v,--vocab", vocab_spec, "Vocabulary: a directory, a vocab file, or a shipped name (gpt2, bert-base-uncased)")
      ->type_name("VOCAB")
      ->required();
  auto* docs_flag = app.add_flag("--docs", docs, "One sentence per line, a blank line between documents (BERT's format)");
  auto* lines_flag = app.add_flag("--lines", lines, "Every line is a document");
  auto* jsonl_flag = app.add_option("--jsonl", jsonl_key, "Every line is a JSON object whose field KEY is a document")
                         ->type_name("KEY");
  docs_flag->excludes(lines_flag)->excludes(jsonl_flag);
  lines_flag->excludes(jsonl_flag);
  app.add_option("--format", format, "shard: a docs shard; ids: a line of space-separated ids per input line")
      ->check(CLI::IsMember({"shard", "ids"}))
      ->capture_default_str();
  app.add_flag("--decode", decode, "Turn a shard (or, with --format ids, id lines) back into text");
  app.add_flag("--add-special", add_special,
               "Wrap each document (each line with --format ids) in the tokenizer's special tokens: "
               "[CLS] .. [SEP], <s> .. </s>, or .. <|endoftext|>");
  app.add_flag("--special-in-text", tokenizer_options.special_in_text,
               "Encode special-token strings in the text ([SEP], <|endoftext|>, <mask>, ...) as those tokens "
               "(default: they are text)");
  auto* cased_flag = app.add_flag("--cased", cased, "WordPiece: keep case and accents (default: uncased unless the vocabulary has upper-case tokens)");
  auto* lower_flag = app.add_flag("--lowercase", lowercase, "WordPiece: lowercase and strip accents");
  cased_flag->excludes(lower_flag);
  app.add_flag("--google-normalizer", google,
               "WordPiece: clean text as google-research/bert does instead of as HuggingFace does");
  app.add_option("--max-chars-per-word", tokenizer_options.max_input_chars_per_word,
                 "WordPiece: longer words become [UNK] (HuggingFace 100, google-research/bert 200)")
      ->capture_default_str();
  app.add_option("files", inputs, "Text files (or shards with --decode); '-' or none: stdin")->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    if (cased) tokenizer_options.lowercase = false;
    if (lowercase) tokenizer_options.lowercase = true;
    tokenizer_options.google_normalizer = google;
    if (format == "ids" && (docs || lines || !jsonl_key.empty()))
      throw UsageError("--format ids encodes each line on its own: drop --docs, --lines and --jsonl");
    const auto tokenizer = tok::Tokenizer::load(vocab_spec, tokenizer_options);

    tok::EncodeOptions options;
    options.layout = docs ? tok::TextLayout::kDocs
                     : lines ? tok::TextLayout::kLines
                     : !jsonl_key.empty() ? tok::TextLayout::kJsonl
                                          : tok::TextLayout::kPlain;
    options.jsonl_key = jsonl_key;
    options.add_special = add_special;
    options.threads = common.thread_count();

    if (decode) {
      OutputFile out(common.output, OutputContent::kText, inputs);
      if (format == "ids") {
        tok::decode_ids(*tokenizer, inputs, out);
      } else {
        io::ReaderOptions reader_options;
        reader_options.vocab_fingerprint = tokenizer->vocab().fingerprint;
        reader_options.vocab_size = tokenizer->vocab().size();
        io::ShardReader reader(inputs, reader_options);
        tok::decode_shard(*tokenizer, reader, out);
      }
      out.commit();
      return;
    }
    Progress progress(common.show_progress(), "tok-encode", total_input_bytes(inputs), Progress::Unit::kBytes);
    if (format == "ids") {
      OutputFile out(common.output, OutputContent::kText, inputs);
      tok::encode_to_ids(*tokenizer, inputs, options, out, progress);
      progress.finish();
      out.commit();
      return;
    }
    OutputFile out(common.output, OutputContent::kBinary, inputs);
    io::ShardWriter writer(
        out, tok::docs_header(*tokenizer, options,
                              io::make_provenance("tok-encode", std::vector<std::string>(argv + 1, argv + argc),
                                                     common.seed)));
    tok::encode_to_shard(*tokenizer, inputs, options, writer, progress);
    writer.finish();
    progress.finish();
    out.commit();
  });
}
