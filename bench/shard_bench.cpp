// shard-bench: single-thread throughput of the shard writer and reader on real token ids.
//   shard-bench TOKENS.shard [--kind windows|docs] [--window N] [--level L] [--repeat N] [--passes N]
// TOKENS.shard is any shard of GPT-2 ids (bench/shard_throughput.sh encodes the benchmark corpus with
// tok-encode); its ids are laid out anew as windows or documents. Shards are written to and read from memory, so the figures are the format's cost (zstd,
// column layout, validation), not the disk's. Prints one line per direction with MB/s of token payload
// (ids x dtype bytes), the best of N runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/cli.h"
#include "core/error.h"
#include "core/input_file.h"
#include "io/shard_reader.h"
#include "io/shard_writer.h"

using namespace lmpipe;
using namespace lmpipe::io;

int main(int argc, char** argv) {
  CLI::App app{"Time the shard writer and reader on one thread.", "shard-bench"};
  std::string tokens_path, kind_name_arg = "windows";
  int level = kDefaultZstdLevel, repeat = 3, passes = 4;
  size_t window = 1025;
  uint32_t vocab = 50257;
  app.add_option("tokens", tokens_path, "A shard whose ids to use")->required();
  app.add_option("--kind", kind_name_arg, "windows or docs")->capture_default_str();
  app.add_option("--window", window, "Ids per windows record")->capture_default_str();
  app.add_option("--vocab-size", vocab, "Vocabulary size (over 65536 stores u32 ids)")->capture_default_str();
  app.add_option("--level", level, "zstd level")->capture_default_str();
  app.add_option("--repeat", repeat, "Runs; the best is reported")->capture_default_str();
  app.add_option("--passes", passes, "Times each shard holds the records (a long shard, as in real use)")
      ->capture_default_str();
  return run_main(app, argc, argv, [&] {
    std::vector<uint32_t> ids;
    {
      ShardReader source({tokens_path});
      RecordView r;
      while (source.next(r)) ids.insert(ids.end(), r.ids.begin(), r.ids.end());
    }
    if (ids.empty()) throw Error("no token ids in " + tokens_path);
    const RecordKind kind = parse_kind(kind_name_arg).value_or(RecordKind::kWindows);

    // Records: windows of `window` ids; or documents of 64 sentences cut at the newline token (GPT-2 id 198).
    std::vector<RecordView> records;
    std::vector<std::vector<uint32_t>> sentence_lens;
    if (kind == RecordKind::kWindows) {
      for (size_t at = 0; at + window <= ids.size(); at += window)
        records.emplace_back().ids = std::span<const uint32_t>(ids).subspan(at, window);
    } else {
      size_t doc_start = 0, sentence_start = 0;
      std::vector<uint32_t> lens;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] != 198 && i + 1 != ids.size()) continue;
        lens.push_back(uint32_t(i + 1 - sentence_start));
        sentence_start = i + 1;
        if (lens.size() == 64 || i + 1 == ids.size()) {
          sentence_lens.push_back(lens);
          records.emplace_back().ids = std::span<const uint32_t>(ids).subspan(doc_start, i + 1 - doc_start);
          doc_start = i + 1;
          lens.clear();
        }
      }
      for (size_t r = 0; r < records.size(); ++r) records[r].sentence_lens = sentence_lens[r];
    }
    uint64_t tokens = 0;
    for (const RecordView& r : records) tokens += r.ids.size();
    tokens *= uint64_t(passes);
    const ShardHeader header = ShardHeader::make(kind, vocab);
    const double payload_mb = double(tokens * dtype_bytes(header.dtype)) / 1e6;

    double best_write = 1e30, best_read = 1e30;
    MemorySink sink;
    for (int run = 0; run < repeat; ++run) {
      sink.bytes.clear();
      sink.bytes.reserve(size_t(payload_mb * 1e6) + (1 << 20));
      auto t0 = std::chrono::steady_clock::now();
      {
        WriterOptions options;
        options.zstd_level = level;
        ShardWriter writer(sink, header, options);
        for (int pass = 0; pass < passes; ++pass)
          for (const RecordView& r : records) writer.write(r);
        writer.finish();
      }
      auto t1 = std::chrono::steady_clock::now();
      uint64_t seen = 0;
      {
        ShardReader reader(InputStream::from_memory("bench", sink.bytes));
        RecordView r;
        while (reader.next(r)) seen += r.ids.size();
      }
      auto t2 = std::chrono::steady_clock::now();
      if (seen != tokens) throw Error("read back a different number of tokens");
      best_write = std::min(best_write, std::chrono::duration<double>(t1 - t0).count());
      best_read = std::min(best_read, std::chrono::duration<double>(t2 - t1).count());
    }
    std::printf("shard-bench kind=%s dtype=%s level=%d records=%zu tokens=%llu payload_MB=%.1f stored_MB=%.1f ratio=%.2f\n",
                kind_name_arg.c_str(), std::string(dtype_name(header.dtype)).c_str(), level, records.size() * size_t(passes),
                (unsigned long long)tokens, payload_mb, double(sink.bytes.size()) / 1e6,
                payload_mb * 1e6 / double(sink.bytes.size()));
    std::printf("RESULT write kind=%s MB_per_s=%.0f\n", kind_name_arg.c_str(), payload_mb / best_write);
    std::printf("RESULT read kind=%s MB_per_s=%.0f\n", kind_name_arg.c_str(), payload_mb / best_read);
  });
}
