#include "tok/encode_job.h"

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/unicode.h"
#include "tok/text_chunker.h"

namespace lmpipe::tok {
namespace {

// Documents are handed to the shard writer in pieces of at most this many ids, so a huge document
// costs bounded memory here (the writer's pieces: see ShardWriter).
constexpr size_t kPieceIds = 512 * 1024;

// What one chunk encodes to: its ids, cut into units (lines; or one unit, the whole chunk).
struct ChunkResult {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> unit_lens;
  std::vector<uint8_t> blank;  // docs layout: the line was blank, a document boundary
};

// The layouts as the chunk encoder sees them; kIdLines keeps lines exactly as they are (a CR too).
enum class Unit { kWholeChunk, kLine, kRawLine, kJsonLine, kSentenceLine };

std::string_view strip_white_space(std::string_view s) {
  const auto is_space_at = [&](size_t i, size_t& len) {
    const text::Decoded d = text::decode_utf8(reinterpret_cast<const uint8_t*>(s.data()) + i, s.size() - i);
    len = d.len;
    return text::is_white_space(d.cp);
  };
  size_t begin = 0, len = 0;
  while (begin < s.size() && is_space_at(begin, len)) begin += len;
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;  // back to the first byte of the last character
    while (start > begin && (uint8_t(s[start]) & 0xC0) == 0x80 && end - start < 4) --start;
    if (!is_space_at(start, len) || start + len != end) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

void encode_chunk(const TextChunk& chunk, Unit unit, const EncodeOptions& options, const std::string& path,
                  Tokenizer::Session& session, ChunkResult& result) {
  result.ids.clear();
  result.unit_lens.clear();
  result.blank.clear();
  result.ids.reserve(chunk.text.size() / 3);  // about 4 bytes a token in English
  if (unit == Unit::kWholeChunk) {
    session.encode(chunk.text, result.ids);
    result.unit_lens.push_back(uint32_t(result.ids.size()));
    return;
  }
  const std::string_view text = chunk.text;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    const uint64_t line_offset = chunk.offset + pos;
    pos = end + 1;
    const size_t before = result.ids.size();
    bool blank = false;
    switch (unit) {
      case Unit::kRawLine:
        session.encode(line, result.ids);
        break;
      case Unit::kLine:
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        session.encode(line, result.ids);
        break;
      case Unit::kSentenceLine:
        line = strip_white_space(line);
        blank = line.empty();
        session.encode(line, result.ids);
        break;
      case Unit::kJsonLine: {
        if (strip_white_space(line).empty()) break;
        const auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw Error(fmt::format("{}:{}: not a JSON object", path, line_offset));
        const auto it = j.find(options.jsonl_key);
        if (it == j.end() || !it->is_string())
          throw Error(fmt::format("{}:{}: no string field \"{}\"", path, line_offset, options.jsonl_key));
        session.encode(it->get_ref<const std::string&>(), result.ids);
        break;
      }
      case Unit::kWholeChunk:
        break;
    }
    result.unit_lens.push_back(uint32_t(result.ids.size() - before));
    result.blank.push_back(blank);
  }
}

// Runs encode_chunk over the inputs in parallel and hands each chunk's result, in input order, to
// consume(chunk, result).
template <class Consume>
void encode_chunks(const Tokenizer& tokenizer, const std::vector<std::string>& inputs, const EncodeOptions& options,
                   TextChunker::Cut cut, Unit unit, Progress& progress, Consume&& consume) {
  const int threads = std::max(1, options.threads);
  TextChunker chunker(inputs, cut, options.chunk_bytes);
  std::vector<std::unique_ptr<Tokenizer::Session>> sessions;
  for (int t = 0; t < threads; ++t) sessions.push_back(tokenizer.session());
  std::vector<ChunkResult> results(size_t(threads) * kChunksPerThread);
  for_each_chunk_parallel(
      chunker, threads,
      [&](const TextChunk& chunk, size_t slot, int thread) {
        encode_chunk(chunk, unit, options, chunker.path(chunk.file), *sessions[size_t(thread)], results[slot]);
      },
      [&](const TextChunk& chunk, size_t slot) {
        consume(chunk, results[slot]);
        progress.update(chunker.bytes_read());
      });
}

// Gathers a document's sentences and hands it to the writer, in pieces when it is large.
class DocumentAssembler {
 public:
  DocumentAssembler(io::ShardWriter& writer, const Tokenizer& tokenizer, bool add_special)
      : writer_(writer), prefix_(add_special ? tokenizer.special_prefix() : std::vector<uint32_t>{}),
        suffix_(add_special ? tokenizer.special_suffix() : std::vector<uint32_t>{}) {}

  // A new sentence (docs and line layouts), or more of the running one (a whole-file document).
  void add(std::span<const uint32_t> ids, bool new_sentence) {
    bool first = false;
    if (!started_) {
      if (ids.empty() && !new_sentence) return;
      started_ = first = new_sentence = true;
    }
    if (new_sentence) {
      if (ids_.size() >= kPieceIds) flush(io::kDocContinues);
      sentence_lens_.push_back(0);
      if (first) append(prefix_);
    }
    for (size_t at = 0; at < ids.size();) {
      if (ids_.size() >= kPieceIds) {
        flush(io::kDocContinues | io::kSentenceContinues);
        sentence_lens_.push_back(0);
      }
      const size_t take = std::min(ids.size() - at, kPieceIds - ids_.size());
      append(ids.subspan(at, take));
      at += take;
    }
  }
  void end_document() {
    if (!started_) return;
    append(suffix_);  // may take the last piece a few ids past kPieceIds
    flush(0);
    started_ = false;
  }

 private:
  void append(std::span<const uint32_t> ids) {
    ids_.insert(ids_.end(), ids.begin(), ids.end());
    sentence_lens_.back() += uint32_t(ids.size());
  }
  void flush(uint8_t flags) {
    io::RecordView r;
    r.ids = ids_;
    r.sentence_lens = sentence_lens_;
    r.doc_flags = flags;
    writer_.write(r);
    ids_.clear();
    sentence_lens_.clear();
  }

  io::ShardWriter& writer_;
  std::vector<uint32_t> prefix_, suffix_, ids_, sentence_lens_;
  bool started_ = false;
};

}  // namespace

std::string_view layout_name(TextLayout layout) {
  switch (layout) {
    case TextLayout::kPlain: return "plain";
    case TextLayout::kLines: return "lines";
    case TextLayout::kJsonl: return "jsonl";
    case TextLayout::kDocs: return "docs";
  }
  return "?";
}

io::ShardHeader docs_header(const Tokenizer& tokenizer, const EncodeOptions& options, nlohmann::json provenance) {
  const Vocab& vocab = tokenizer.vocab();
  io::ShardHeader h = io::ShardHeader::make(io::RecordKind::kDocs, vocab.size(), vocab.fingerprint);
  h.special_ids = vocab.special_ids();
  h.provenance = std::move(provenance);
  h.extra["layout"] = layout_name(options.layout);
  h.extra["tokenizer"] = vocab.kind == VocabKind::kByteLevelBpe ? "byte-level-bpe" : "wordpiece";
  h.extra["add_special"] = options.add_special;
  return h;
}

void encode_to_shard(const Tokenizer& tokenizer, const std::vector<std::string>& inputs, const EncodeOptions& options,
                     io::ShardWriter& writer, Progress& progress) {
  DocumentAssembler doc(writer, tokenizer, options.add_special);
  const TextLayout layout = options.layout;
  const Unit unit = layout == TextLayout::kPlain   ? Unit::kWholeChunk
                    : layout == TextLayout::kLines ? Unit::kLine
                    : layout == TextLayout::kJsonl ? Unit::kJsonLine
                                                   : Unit::kSentenceLine;
  const auto cut = layout == TextLayout::kPlain ? TextChunker::Cut::kPieces : TextChunker::Cut::kLines;
  encode_chunks(tokenizer, inputs, options, cut, unit, progress, [&](const TextChunk& chunk, const ChunkResult& r) {
    const std::span<const uint32_t> ids(r.ids);
    size_t at = 0;
    for (size_t u = 0; u < r.unit_lens.size(); ++u) {
      const auto unit_ids = ids.subspan(at, r.unit_lens[u]);
      at += r.unit_lens[u];
      switch (layout) {
        case TextLayout::kPlain:
          doc.add(unit_ids, false);
          break;
        case TextLayout::kLines:
        case TextLayout::kJsonl:
          if (unit_ids.empty()) break;  // an empty line is no document
          doc.add(unit_ids, true);
          doc.end_document();
          break;
        case TextLayout::kDocs:
          if (r.blank[u]) doc.end_document();
          else if (!unit_ids.empty()) doc.add(unit_ids, true);
          break;
      }
    }
    if (chunk.file_end) doc.end_document();  // documents end with their file
  });
}

void encode_to_ids(const Tokenizer& tokenizer, const std::vector<std::string>& inputs, const EncodeOptions& options,
                   ByteSink& out, Progress& progress) {
  const auto& prefix = tokenizer.special_prefix();
  const auto& suffix = tokenizer.special_suffix();
  fmt::memory_buffer line;
  encode_chunks(tokenizer, inputs, options, TextChunker::Cut::kLines, Unit::kRawLine, progress,
                [&](const TextChunk&, const ChunkResult& r) {
                  size_t at = 0;
                  for (uint32_t len : r.unit_lens) {
                    line.clear();
                    const auto emit = [&](std::span<const uint32_t> ids) {
                      for (uint32_t id : ids) fmt::format_to(std::back_inserter(line), "{}{}", line.size() ? " " : "", id);
                    };
                    if (options.add_special) emit(prefix);
                    emit(std::span<const uint32_t>(r.ids).subspan(at, len));
                    if (options.add_special) emit(suffix);
                    line.push_back('\n');
                    out.write(line.data(), line.size());
                    at += len;
                  }
                });
}

void decode_shard(const Tokenizer& tokenizer, io::ShardReader& reader, ByteSink& out) {
  const io::ShardHeader& header = reader.header();
  const std::string layout = header.extra.value("layout", std::string("plain"));
  const Vocab& vocab = tokenizer.vocab();
  io::RecordView r;
  std::string text;
  while (reader.next(r)) {
    text.clear();
    if (header.kind != io::RecordKind::kDocs) {
      text = vocab.decode(r.ids) + "\n";
    } else if (layout == "plain") {
      text = vocab.decode(r.ids);
    } else if (layout == "docs") {
      size_t at = 0;
      for (size_t s = 0; s < r.sentence_lens.size(); ++s) {
        text += vocab.decode(r.ids.subspan(at, r.sentence_lens[s]));
        at += r.sentence_lens[s];
        const bool cut = s + 1 == r.sentence_lens.size() && (r.doc_flags & io::kSentenceContinues);
        if (!cut) text += '\n';
      }
      if (!(r.doc_flags & io::kDocContinues)) text += '\n';
    } else {
      text = vocab.decode(r.ids);
      if (!(r.doc_flags & io::kDocContinues)) text += '\n';
    }
    out.write(text.data(), text.size());
  }
}

void decode_ids(const Tokenizer& tokenizer, const std::vector<std::string>& inputs, ByteSink& out) {
  const Vocab& vocab = tokenizer.vocab();
  TextChunker chunker(inputs, TextChunker::Cut::kLines, 1 << 20);
  TextChunk chunk;
  std::vector<uint32_t> ids;
  while (chunker.next(chunk)) {
    const std::string_view text = chunk.text;
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      ids.clear();
      for (size_t at = pos; at < end;) {
        while (at < end && (text[at] == ' ' || text[at] == '\t' || text[at] == '\r')) ++at;
        if (at == end) break;
        uint32_t id = 0;
        const auto [stop, ec] = std::from_chars(text.data() + at, text.data() + end, id);
        if (ec != std::errc() || id >= vocab.size() ||
            (stop != text.data() + end && *stop != ' ' && *stop != '\t' && *stop != '\r'))
          throw Error(fmt::format("{}:{}: not a token id below {}", chunker.path(chunk.file), chunk.offset + at,
                                  vocab.size()));
        ids.push_back(id);
        at = size_t(stop - text.data());
      }
      const std::string line = vocab.decode(ids) + "\n";
      out.write(line.data(), line.size());
      pos = end + 1;
    }
  }
}

}  // namespace lmpipe::tok
