#include "data/pairs_job.h"

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/error.h"
#include "core/input_file.h"
#include "core/rng.h"
#include "data/documents.h"
#include "data/example_builders.h"
#include "io/shard_reader.h"
#include "io/shard_writer.h"

namespace lmpipe::data {
namespace {

// stdin copied to a temporary file, so that several passes can read it; removed when done.
class Spool {
 public:
  explicit Spool(InputStream& in) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/make-pairs-stdin-XXXXXX";
    const int fd = ::mkstemp(path_.data());
    if (fd < 0) fail_errno("cannot create a temporary file for stdin");
    ::close(fd);
    OutputFile out(path_, OutputContent::kBinary);
    std::vector<uint8_t> buffer(1 << 20);
    for (size_t got; (got = in.read(buffer.data(), buffer.size())) > 0;) out.write(buffer.data(), got);
    out.commit();
  }
  ~Spool() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::optional<uint32_t> special(const io::ShardHeader& h, const char* role) {
  const auto it = h.special_ids.find(role);
  return it == h.special_ids.end() ? std::nullopt : std::optional<uint32_t>(it->second);
}

std::string_view task_name(Task t) {
  switch (t) {
    case Task::kNsp: return "nsp";
    case Task::kFullSentences: return "full-sentences";
    case Task::kDocSentences: return "doc-sentences";
    case Task::kCausal: return "causal";
  }
  return "?";
}

}  // namespace

PairsSummary make_pairs(const std::vector<std::string>& given_inputs, const PairsOptions& o, ByteSink& out,
                        const nlohmann::json& provenance, Progress& progress) {
  if (o.task == Task::kNsp && o.max_len < 5) throw UsageError("--max-len must be at least 5 for --task nsp");
  if (o.max_len < 2) throw UsageError("--max-len must be at least 2");
  const size_t stride = o.stride == 0 ? o.max_len : o.stride;
  if (o.task == Task::kCausal && stride > o.max_len + 1)
    throw UsageError(fmt::format("--stride must be at most --max-len + 1 ({})", o.max_len + 1));
  if (o.dupe_factor == 0) throw UsageError("--dupe-factor must be at least 1");
  if (o.short_seq_prob < 0 || o.short_seq_prob > 1) throw UsageError("--short-seq-prob must be between 0 and 1");

  // Several passes read the inputs again: stdin goes to a temporary file first.
  std::vector<std::string> inputs = given_inputs.empty() ? std::vector<std::string>{"-"} : given_inputs;
  std::unique_ptr<Spool> spool;
  if (o.dupe_factor > 1) {
    for (std::string& path : inputs) {
      if (path != "-") continue;
      if (spool) throw UsageError("stdin can be given only once");
      auto in = InputStream::open("-");
      spool = std::make_unique<Spool>(*in);
      path = spool->path();
    }
  }

  io::ReaderOptions reader_options;
  reader_options.accept = {io::RecordKind::kDocs};
  auto reader = std::make_unique<io::ShardReader>(inputs, reader_options);
  const io::ShardHeader in = reader->header();
  const auto missing = [&](const char* what) {
    return Error(fmt::format("{}: --task {} needs {} in the vocabulary's special tokens", inputs.front(), task_name(o.task), what));
  };
  uint32_t first_special = 0, second_special = 0;  // cls/sep, bos/eos, or eot
  switch (o.task) {
    case Task::kNsp:
      if (!special(in, "cls") || !special(in, "sep")) throw missing("[CLS] and [SEP]");
      first_special = *special(in, "cls");
      second_special = *special(in, "sep");
      break;
    case Task::kFullSentences:
    case Task::kDocSentences:
      if (special(in, "bos") && special(in, "eos")) {
        first_special = *special(in, "bos");
        second_special = *special(in, "eos");
      } else if (special(in, "cls") && special(in, "sep")) {
        first_special = *special(in, "cls");
        second_special = *special(in, "sep");
      } else {
        throw missing("<s> and </s> (or [CLS] and [SEP])");
      }
      break;
    case Task::kCausal: {
      const auto eot = special(in, "eot") ? special(in, "eot") : special(in, "eos") ? special(in, "eos") : special(in, "sep");
      if (!eot) throw missing("<|endoftext|> (or </s> or [SEP])");
      first_special = *eot;
      break;
    }
  }

  io::ShardHeader header = io::ShardHeader::make(
      o.task == Task::kCausal ? io::RecordKind::kWindows : io::RecordKind::kPairs, in.vocab_size,
      in.vocab_fingerprint);
  header.special_ids = in.special_ids;
  header.provenance = provenance;
  header.provenance["parents"] = nlohmann::json::array({in.provenance});
  header.extra["task"] = task_name(o.task);
  header.extra["max_len"] = o.max_len;
  header.extra["dupe_factor"] = o.dupe_factor;
  if (o.task == Task::kNsp) {
    header.extra["short_seq_prob"] = o.short_seq_prob;
    header.extra["buffer_docs"] = o.buffer_docs;
  }
  if (o.task == Task::kCausal) header.extra["stride"] = stride;
  io::ShardWriter writer(out, header);

  PairsSummary summary;
  uint64_t done_bytes = 0;
  const Emit emit = [&](const io::RecordView& r) {
    writer.write(r);
    ++summary.records;
    summary.tokens += r.ids.size();
    if ((summary.records & 1023) == 0) progress.update(done_bytes + reader->bytes_consumed());
  };
  for (uint32_t pass = 0; pass < o.dupe_factor; ++pass) {
    if (pass > 0) {
      done_bytes += reader->bytes_consumed();
      reader = std::make_unique<io::ShardReader>(inputs, reader_options);
    }
    Rng rng(o.seed, {pass});
    switch (o.task) {
      case Task::kNsp: {
        NspOptions nsp;
        nsp.max_len = o.max_len;
        nsp.short_seq_prob = o.short_seq_prob;
        nsp.buffer_docs = o.buffer_docs;
        nsp.cls = first_special;
        nsp.sep = second_special;
        DocumentReader documents(*reader);
        NspPairMaker(nsp, rng, emit).run(documents);
        break;
      }
      case Task::kFullSentences:
      case Task::kDocSentences: {
        SentenceReader sentences(*reader);
        SentencePacker packer(o.max_len, first_special, second_special, o.task == Task::kFullSentences, emit);
        std::vector<uint32_t> sentence;
        bool ends = false;
        while (sentences.next(sentence, ends)) {
          if (!sentence.empty()) packer.add_sentence(sentence);
          if (ends) packer.end_document();
        }
        packer.finish();
        break;
      }
      case Task::kCausal: {
        SentenceReader sentences(*reader);
        WindowCutter cutter(o.max_len + 1, stride, first_special, emit);
        std::vector<uint32_t> sentence;
        bool ends = false;
        while (sentences.next(sentence, ends)) {
          cutter.add(sentence);
          if (ends) cutter.end_document();
        }
        summary.dropped += cutter.dropped();
        break;
      }
    }
  }
  progress.update(done_bytes + reader->bytes_consumed());
  writer.finish();
  return summary;
}

}  // namespace lmpipe::data
