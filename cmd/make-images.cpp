// make-images: pictures and their texts in JSON lines -> an images shard (pixels, ids with the picture's
// placeholder, loss masks). Flags here; the work is lib/data/images_job.cpp and lib/image/.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/cli.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "data/images_job.h"
#include "io/shard_format.h"
#include "io/shard_header.h"
#include "tok/tokenizer.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Turn pictures and their texts (JSON lines) into an images shard for a vision-language model: each "
               "picture decoded (PNG, JPEG), resized and centre-cropped as CLIP's image processor does, its text as "
               "ids with a placeholder where the picture goes and a loss mask on what the model learns to say.",
               "make-images"};
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string vocab_spec;
  data::ImagesOptions options;
  add_common_options(app, common, "Write the shard to FILE instead of stdout");
  app.add_option("-v,--vocab", vocab_spec,
                 "Vocabulary with the placeholder token (tok-train --extend adds it), and the ChatML markers for chats")
      ->type_name("VOCAB")
      ->required();
  app.add_option("--image-size", options.image_size,
                 "Side of the square each picture becomes (224: CLIP ViT-B/32 and ViT-L/14; 336: LLaVA-1.5)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--placeholder", options.placeholder, "The added token that stands where the picture goes")
      ->capture_default_str();
  app.add_option("--max-len", options.max_len, "Text ids per record at most: a longer text is cut at the end")
      ->check(in_range(2, double(io::kMaxPayload / (sizeof(uint32_t) + 1) - 1), true, true))
      ->capture_default_str();
  app.add_option("--max-pixels", options.limits.max_pixels,
                 "A picture of more pixels is a bad line (PIL's decompression-bomb limit by default)")
      ->check(CLI::Range(uint64_t(1), uint64_t(1) << 40))
      ->capture_default_str();
  app.add_flag("--skip-bad", options.skip_bad, "Leave out bad lines and count them, instead of stopping at the first");
  app.add_option("files", inputs,
                 "JSON-lines files, a line {\"image\": PATH, \"text\": CAPTION} or {\"image\": PATH, \"messages\": "
                 "[...]} (or LLaVA's \"conversations\"); PATH relative to the file ('-' or none: stdin)")
      ->type_name("FILE");

  return run_main(app, argc, argv, [&] {
    options.threads = common.thread_count();
    const auto tokenizer = tok::Tokenizer::load(vocab_spec);
    OutputFile out(common.output, OutputContent::kBinary, inputs);
    io::ShardWriter writer(
        out, data::images_header(*tokenizer, options,
                                 io::make_provenance("make-images", std::vector<std::string>(argv + 1, argv + argc),
                                                     common.seed)));
    Progress progress(common.show_progress(), "make-images", total_input_bytes(inputs), Progress::Unit::kBytes);
    const data::ImagesSummary summary = data::make_images(*tokenizer, inputs, options, writer, progress);
    writer.finish();
    progress.finish();
    out.commit();
    if (!common.quiet)
      fmt::print(stderr, "make-images: {} pictures ({} captions, {} chats), {} ids ({} trained on); {} cut at --max-len{}\n",
                 summary.records, summary.captions, summary.chats, summary.tokens, summary.loss_tokens,
                 summary.truncated, options.skip_bad ? fmt::format(", {} bad lines left out", summary.skipped) : "");
  });
}
