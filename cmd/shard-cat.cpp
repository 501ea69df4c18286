// shard-cat: look inside shards. Flags here; the printing is lib/io/shard_dump.cpp.
#include <memory>
#include <string>
#include <vector>

#include "core/cli.h"
#include "core/output_file.h"
#include "core/progress.h"
#include "io/shard_dump.h"
#include "io/shard_reader.h"
#include "tok/vocab.h"

namespace {

class VocabText final : public lmpipe::io::TokenText {
 public:
  explicit VocabText(lmpipe::tok::Vocab vocab) : vocab_(std::move(vocab)) {}
  std::string token(uint32_t id) const override { return vocab_.tokens.at(id); }
  std::string text(std::span<const uint32_t> ids) const override { return vocab_.decode(ids); }

 private:
  lmpipe::tok::Vocab vocab_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Print what shards hold: headers, totals, or every record as a JSON line (the default).",
               "shard-cat"};
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string vocab_spec;
  bool header = false, stats = false, jsonl = false, pixels = false;
  add_common_options(app, common, "Write to FILE instead of stdout");
  auto* header_flag = app.add_flag("--header", header, "Print each shard's header as one JSON line");
  auto* stats_flag = app.add_flag("--stats", stats, "Print counts and sizes as one JSON object");
  auto* jsonl_flag = app.add_flag("--jsonl", jsonl, "Print each record as one JSON object per line (the default)");
  auto* pixels_flag = app.add_flag(
      "--pixels", pixels, "With the records, an images record's pixels too, as a list of bytes (R, G, B, row by row)");
  header_flag->excludes(stats_flag)->excludes(jsonl_flag)->excludes(pixels_flag);
  stats_flag->excludes(pixels_flag);
  stats_flag->excludes(jsonl_flag);
  app.add_option("-v,--vocab", vocab_spec,
                 "Vocabulary (directory, file or shipped name) to print tokens as text; the shards must match it")
      ->type_name("VOCAB");
  app.add_option("files", inputs, "Shards to read ('-' or none: stdin); they read as one stream")->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    io::ReaderOptions options;
    std::unique_ptr<VocabText> text;
    if (!vocab_spec.empty()) {
      tok::Vocab vocab = tok::load_vocab(vocab_spec);
      options.vocab_fingerprint = vocab.fingerprint;
      options.vocab_size = vocab.size();
      text = std::make_unique<VocabText>(std::move(vocab));
    }
    options.decode = !header;
    io::ShardReader reader(inputs, options);
    OutputFile out(common.output, OutputContent::kText, inputs);
    Progress progress(common.show_progress(), "shard-cat", total_input_bytes(reader.paths()), Progress::Unit::kBytes);
    if (header) {
      io::dump_headers(reader, out);
    } else if (stats) {
      io::dump_stats(reader, out, progress);
    } else {
      io::dump_records(reader, out, text.get(), progress, pixels);
    }
    progress.update(reader.bytes_consumed());
    progress.finish();
    out.commit();
  });
}
