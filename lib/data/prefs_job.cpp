#include "data/prefs_job.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "data/chat_job.h"
#include "data/line_chunks.h"
#include "tok/text_chunker.h"

namespace lmpipe::data {
namespace {

// What a chunk of lines became: each pair's prompt, chosen and rejected ids back to back, and the lines
// that were bad.
struct PrefsChunk {
  struct Item {
    size_t line = 0;   // index of the line in the chunk
    size_t start = 0;  // into ids
    size_t prompt = 0, chosen = 0, rejected = 0;
    std::string error;  // non-empty: the line was bad
  };
  std::vector<uint32_t> ids;
  std::vector<Item> items;
  size_t lines = 0;
};

void encode_chunk(std::string_view text, const tok::ChatMlTemplate& chat_template, bool prompts_only,
                  tok::Tokenizer::Session& session, PrefsChunk& result) {
  result.ids.clear();
  result.items.clear();
  result.lines = tok::for_each_record_line(text, [&](size_t index, std::string_view line) {
    PrefsChunk::Item item;
    item.line = index;
    item.start = result.ids.size();
    try {
      const tok::PreferencePair pair = tok::parse_preference(line, prompts_only);
      chat_template.render_prompt(pair.prompt, session, result.ids);
      item.prompt = result.ids.size() - item.start;
      if (!prompts_only) {
        chat_template.render_reply(pair.chosen, session, result.ids);
        item.chosen = result.ids.size() - item.start - item.prompt;
        chat_template.render_reply(pair.rejected, session, result.ids);
        item.rejected = result.ids.size() - item.start - item.prompt - item.chosen;
      }
    } catch (const Error& e) {
      item.error = e.what();
      result.ids.resize(item.start);
    }
    result.items.push_back(std::move(item));
  });
}

// Collects consecutive pairs of one prompt into a record and cuts it to max_len: the prompt loses ids
// from its start until it and the longest completion fit, keeping at least half of max_len (or all it
// has); completions still too long lose ids from their end.
class RecordGrouper {
 public:
  RecordGrouper(io::ShardWriter& writer, const PrefsOptions& options, PrefsSummary& summary)
      : writer_(writer), options_(options), summary_(summary) {}

  void add(std::span<const uint32_t> prompt, std::span<const uint32_t> chosen, std::span<const uint32_t> rejected) {
    if (!completions_.empty() && (completions_.size() / 2 >= std::max<size_t>(1, options_.group) ||
                                  !std::equal(prompt.begin(), prompt.end(), prompt_.begin(), prompt_.end())))
      flush();
    if (completions_.empty()) prompt_.assign(prompt.begin(), prompt.end());
    completions_.emplace_back(chosen.begin(), chosen.end());
    completions_.emplace_back(rejected.begin(), rejected.end());
  }

  // A prompt of a rollout shard (prompts_only): consecutive repeats of a prompt are written once.
  void add_prompt(std::span<const uint32_t> prompt) {
    if (written_prompt_ && std::equal(prompt.begin(), prompt.end(), prompt_.begin(), prompt_.end())) return;
    prompt_.assign(prompt.begin(), prompt.end());
    written_prompt_ = true;
    std::span<const uint32_t> kept = prompt_;
    if (kept.size() > options_.max_len) {
      kept = kept.last(options_.max_len);
      ++summary_.prompts_cut;
    }
    const std::vector<uint8_t> mask(kept.size(), 0);
    const uint32_t length = uint32_t(kept.size());
    io::RecordView r;
    r.ids = kept;
    r.loss_mask = mask;
    r.sentence_lens = std::span<const uint32_t>(&length, 1);
    writer_.write(r);
    ++summary_.records;
    summary_.tokens += kept.size();
  }

  void flush() {
    if (completions_.empty()) return;
    const size_t L = options_.max_len, P = prompt_.size();
    size_t longest = 0;
    for (const auto& c : completions_) longest = std::max(longest, c.size());
    size_t keep = P, limit = longest;
    if (P + longest > L) {
      keep = std::max(L > longest ? L - longest : 0, std::min(P, L / 2));
      limit = L - keep;
      summary_.prompts_cut += keep < P;
      summary_.completions_cut += longest > limit;
    }
    ids_.assign(prompt_.end() - ptrdiff_t(keep), prompt_.end());
    lens_.assign(1, uint32_t(keep));
    for (const auto& c : completions_) {
      const size_t n = std::min(c.size(), limit);
      ids_.insert(ids_.end(), c.begin(), c.begin() + ptrdiff_t(n));
      lens_.push_back(uint32_t(n));
    }
    io::RecordView r;
    r.ids = ids_;
    r.sentence_lens = lens_;
    writer_.write(r);
    ++summary_.records;
    summary_.pairs += completions_.size() / 2;
    summary_.tokens += ids_.size();
    completions_.clear();
  }

 private:
  io::ShardWriter& writer_;
  const PrefsOptions& options_;
  PrefsSummary& summary_;
  std::vector<uint32_t> prompt_;
  std::vector<std::vector<uint32_t>> completions_;  // chosen, rejected, chosen, ...
  bool written_prompt_ = false;
  std::vector<uint32_t> ids_, lens_;
};

}  // namespace

io::ShardHeader prefs_header(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                             const PrefsOptions& options, nlohmann::json provenance) {
  io::ShardHeader h = template_header(options.prompts_only ? io::RecordKind::kChat : io::RecordKind::kPrefs,
                                      tokenizer, chat_template, std::move(provenance));
  h.extra["max_len"] = options.max_len;
  if (options.prompts_only) {
    h.extra["prompts"] = true;  // each record a prompt that ends where the assistant's reply begins
    h.extra["packed"] = false;
  } else {
    h.extra["group"] = options.group;
  }
  return h;
}

PrefsSummary make_prefs(const tok::Tokenizer& tokenizer, const tok::ChatMlTemplate& chat_template,
                        const std::vector<std::string>& inputs, const PrefsOptions& options, io::ShardWriter& writer,
                        Progress& progress) {
  if (options.max_len < 2)
    throw UsageError(fmt::format("--max-len {} is below 2: a record holds a prompt and a reply", options.max_len));
  const int threads = std::max(1, options.threads);
  std::vector<std::unique_ptr<tok::Tokenizer::Session>> sessions;
  for (int t = 0; t < threads; ++t) sessions.push_back(tokenizer.session());
  PrefsSummary summary;
  RecordGrouper grouper(writer, options, summary);
  summary.skipped = for_each_line_chunk<PrefsChunk>(
      inputs, options.chunk_bytes, threads, options.skip_bad, progress,
      [&](std::string_view text, size_t, int thread, PrefsChunk& result) {
        encode_chunk(text, chat_template, options.prompts_only, *sessions[size_t(thread)], result);
      },
      [&](const PrefsChunk& r, const PrefsChunk::Item& item) {
        const std::span<const uint32_t> ids = r.ids;
        const auto prompt = ids.subspan(item.start, item.prompt);
        if (options.prompts_only) return grouper.add_prompt(prompt);
        grouper.add(prompt, ids.subspan(item.start + item.prompt, item.chosen),
                    ids.subspan(item.start + item.prompt + item.chosen, item.rejected));
      });
  grouper.flush();
  return summary;
}

}  // namespace lmpipe::data
