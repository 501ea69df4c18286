#include "train/chat_batch.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/layers.h"

namespace lmpipe::train {
namespace {

size_t input_count(const ChatRecord& r) { return r.ids.empty() ? 0 : r.ids.size() - 1; }

}  // namespace

std::vector<ChatRecord> take_chat_records(RecordLoader& loader, size_t count, size_t max_inputs) {
  std::vector<ChatRecord> records;
  loader.next(count, [&](const io::RecordView& r, const std::string& path) {
    if (r.ids.size() > max_inputs + 1)
      throw Error(fmt::format("{}: a record of {} ids, more than the header's max_len {}", path, r.ids.size(),
                              max_inputs + 1));
    records.push_back({{r.ids.begin(), r.ids.end()},
                       {r.sentence_lens.begin(), r.sentence_lens.end()},
                       {r.loss_mask.begin(), r.loss_mask.end()}});
  });
  return records;
}

void make_chat_rows(std::span<const ChatRecord> records, ChatRows& rows) {
  size_t longest = 1;
  for (const ChatRecord& r : records) longest = std::max(longest, input_count(r));
  rows.Tn = longest;
  const size_t n = records.size() * longest;
  rows.inputs.assign(n, 0);
  rows.targets.assign(n, nn::kIgnore);
  rows.positions.assign(n, 0);
  rows.targets_counted = 0;
  for (size_t b = 0; b < records.size(); ++b) {
    const ChatRecord& r = records[b];
    uint32_t* in = rows.inputs.data() + b * longest;
    uint32_t* target = rows.targets.data() + b * longest;
    uint32_t* position = rows.positions.data() + b * longest;
    const size_t inputs = input_count(r);
    size_t t = 0;
    for (const uint32_t len : r.conversation_lens) {
      for (uint32_t i = 0; i < len && t < inputs; ++i, ++t) {
        in[t] = r.ids[t];
        position[t] = i;
        // The next id is a target when it belongs to this conversation and the mask marks it.
        if (i + 1 < len && r.loss_mask[t + 1]) {
          target[t] = r.ids[t + 1];
          ++rows.targets_counted;
        }
      }
    }
    for (uint32_t i = 0; t < longest; ++t, ++i) position[t] = i;  // the padding: a sequence of its own
  }
}

}  // namespace lmpipe::train
