// make-chat: conversations in JSON lines -> a chat shard (ids and loss masks in the ChatML template).
// Flags here; the work is lib/data/chat_job.cpp and chat_template.cpp.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/cli.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "data/chat_job.h"
#include "io/shard_format.h"
#include "io/shard_header.h"
#include "tok/tokenizer.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Turn conversations (JSON lines) into a chat shard for supervised fine-tuning: ids in the ChatML "
               "template and a loss mask that is 1 on the assistant's replies.",
               "make-chat"};
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string vocab_spec, format = "messages";
  data::ChatOptions options;
  add_common_options(app, common, "Write the shard to FILE instead of stdout");
  app.add_option("-v,--vocab", vocab_spec,
                 "Vocabulary with <|im_start|> and <|im_end|> (tok-train --extend adds them)")
      ->type_name("VOCAB")
      ->required();
  app.add_option("--format", format,
                 "messages: {\"messages\": [{\"role\", \"content\"}, ...]}; alpaca: {\"instruction\", \"input\", "
                 "\"output\"}")
      ->check(CLI::IsMember({"messages", "alpaca"}))
      ->capture_default_str();
  app.add_option("--max-len", options.max_len,
                 "Ids per record at most (the model's positions + 1 at most): a longer conversation is cut at the end")
      ->check(in_range(2, double(io::kMaxPayload / (sizeof(uint32_t) + 1) - 1), true, true))
      ->capture_default_str();
  app.add_flag("--pack", options.pack,
               "Pack several conversations into each record of up to --max-len ids (each keeps its own positions "
               "and attention)");
  app.add_flag("--skip-bad", options.skip_bad, "Leave out bad lines and count them, instead of stopping at the first");
  app.add_option("files", inputs, "JSON-lines files ('-' or none: stdin)")->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    options.format = format == "alpaca" ? tok::ChatFormat::kAlpaca : tok::ChatFormat::kMessages;
    options.threads = common.thread_count();
    const auto tokenizer = tok::Tokenizer::load(vocab_spec);
    const tok::ChatMlTemplate chat_template(*tokenizer);
    OutputFile out(common.output, OutputContent::kBinary, inputs);
    io::ShardWriter writer(
        out, data::chat_header(*tokenizer, chat_template, options,
                               io::make_provenance("make-chat", std::vector<std::string>(argv + 1, argv + argc),
                                                   common.seed)));
    Progress progress(common.show_progress(), "make-chat", total_input_bytes(inputs), Progress::Unit::kBytes);
    const data::ChatSummary summary = data::make_chat(*tokenizer, chat_template, inputs, options, writer, progress);
    writer.finish();
    progress.finish();
    out.commit();
    if (!common.quiet)
      fmt::print(stderr, "make-chat: {} conversations in {} records, {} ids ({} trained on); {} cut at --max-len{}\n",
                 summary.conversations, summary.records, summary.tokens, summary.loss_tokens, summary.truncated,
                 options.skip_bad ? fmt::format(", {} bad lines left out", summary.skipped) : "");
  });
}
