// make-test-shard: JSON lines (the objects `shard-cat --jsonl` prints) -> a shard. For CLI tests that need
// shards of every kind, including ones no program would write. An images record's "image" is [width,
// height]; its "pixels" (3 bytes a pixel, as shard-cat --pixels prints them) default to byte i = i mod 256.
// Not installed.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/cli.h"
#include "core/error.h"
#include "core/output_file.h"
#include "io/shard_writer.h"

int main(int argc, char** argv) {
  using namespace lmpipe;
  CLI::App app{"Write the JSON-line records on stdin as a shard (a test tool).", "make-test-shard"};
  CommonOptions common;
  std::string kind = "windows", dtype, fingerprint, special_ids;
  uint32_t vocab_size = 0;
  size_t block_target = io::kDefaultBlockTarget;
  add_common_options(app, common, "Write the shard to FILE instead of stdout");
  app.add_option("--kind", kind, "docs, pairs, windows, masked, chat, prefs or images")->capture_default_str();
  app.add_option("--vocab-size", vocab_size, "Vocabulary size")->required();
  app.add_option("--dtype", dtype, "u16 or u32 (default: what the vocabulary needs)");
  app.add_option("--fingerprint", fingerprint, "Vocabulary fingerprint to record");
  app.add_option("--special-ids", special_ids, "Special token ids to record, as a JSON object of role: id")
      ->type_name("JSON");
  app.add_option("--block-target", block_target, "Payload bytes per block")->capture_default_str();

  return run_main(app, argc, argv, [&] {
    const auto parsed_kind = io::parse_kind(kind);
    if (!parsed_kind) throw UsageError("--kind must be docs, pairs, windows, masked, chat, prefs or images");
    io::ShardHeader header = io::ShardHeader::make(*parsed_kind, vocab_size, fingerprint);
    if (!dtype.empty()) {
      const auto parsed = io::parse_dtype(dtype);
      if (!parsed) throw UsageError("--dtype must be u16 or u32");
      header.dtype = *parsed;
    }
    if (!special_ids.empty()) {
      const auto j = nlohmann::json::parse(special_ids, nullptr, false);
      if (j.is_discarded() || !j.is_object()) throw UsageError("--special-ids must be a JSON object");
      for (const auto& [role, id] : j.items()) header.special_ids[role] = id.get<uint32_t>();
    }
    header.provenance = io::make_provenance("make-test-shard", std::vector<std::string>(argv + 1, argv + argc),
                                               common.seed);
    OutputFile out(common.output, OutputContent::kBinary);
    io::WriterOptions options;
    options.block_target = block_target;
    io::ShardWriter writer(out, header, options);
    std::string line;
    size_t line_number = 0;
    while (std::getline(std::cin, line)) {
      ++line_number;
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) throw Error("<stdin>:" + std::to_string(line_number) + ": not a JSON object");
      const auto ids = j.value("ids", std::vector<uint32_t>{});
      const auto sentence_lens = j.value("sentence_lens", std::vector<uint32_t>{});
      const auto positions = j.value("positions", std::vector<uint32_t>{});
      const auto labels = j.value("labels", std::vector<uint32_t>{});
      const auto loss_mask = j.value("loss_mask", std::vector<uint8_t>{});
      const auto conversation_lens = j.value("conversation_lens", std::vector<uint32_t>{});
      io::RecordView r;
      r.ids = ids;
      const auto part_lens = j.value("part_lens", std::vector<uint32_t>{});
      r.sentence_lens = j.contains("conversation_lens") ? conversation_lens : j.contains("part_lens") ? part_lens : sentence_lens;
      r.loss_mask = loss_mask;
      r.positions = positions;
      r.labels = labels;
      r.len_a = j.value("len_a", 0u);
      if (j.contains("is_next") && !j["is_next"].is_null()) r.is_next = int8_t(j["is_next"].get<int>());
      if (j.value("doc_continues", false)) r.doc_flags |= io::kDocContinues;
      if (j.value("sentence_continues", false)) r.doc_flags |= io::kSentenceContinues;
      std::vector<uint8_t> pixels;
      if (j.contains("image")) {
        const auto size = j["image"].get<std::vector<uint32_t>>();
        if (size.size() != 2) throw Error("<stdin>:" + std::to_string(line_number) + ": image is not [width, height]");
        r.image_width = size[0], r.image_height = size[1];
        pixels = j.value("pixels", std::vector<uint8_t>{});
        if (!j.contains("pixels"))
          for (uint64_t i = 0; i < 3 * uint64_t(size[0]) * size[1]; ++i) pixels.push_back(uint8_t(i));
        r.pixels = pixels;
      }
      writer.write(r);
    }
    writer.finish();
    out.commit();
  });
}
