#include "train/image_batch.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/layers.h"

namespace lmpipe::train {

std::vector<ImageRecord> take_image_records(RecordLoader& loader, size_t count, size_t image_size) {
  std::vector<ImageRecord> records;
  loader.next(count, [&](const io::RecordView& r, const std::string& path) {
    if (r.image_width != image_size || r.image_height != image_size)
      throw Error(fmt::format("{}: a picture of {} x {} pixels; the vision tower takes {} x {} (make-images "
                              "--image-size {})",
                              path, r.image_width, r.image_height, image_size, image_size, image_size));
    records.push_back({{r.ids.begin(), r.ids.end()}, {r.loss_mask.begin(), r.loss_mask.end()},
                       {r.pixels.begin(), r.pixels.end()}});
  });
  return records;
}

void make_image_rows(std::span<const ImageRecord> records, uint32_t placeholder, size_t patches, size_t max_inputs,
                     ImageRows& rows) {
  // Each record's ids with its placeholder expanded, and whether each expanded id is a target.
  std::vector<std::vector<uint32_t>> expanded(records.size());
  std::vector<std::vector<uint8_t>> learned(records.size());
  size_t longest = 1;
  rows.cut = 0;
  for (size_t b = 0; b < records.size(); ++b) {
    const ImageRecord& r = records[b];
    const auto n = size_t(std::count(r.ids.begin(), r.ids.end(), placeholder));
    if (n != 1)
      throw Error(fmt::format("an images record with {} placeholder ids (id {}), not one", n, placeholder));
    for (size_t i = 0; i < r.ids.size(); ++i) {
      const size_t copies = r.ids[i] == placeholder ? patches : 1;
      expanded[b].insert(expanded[b].end(), copies, r.ids[i]);
      learned[b].insert(learned[b].end(), copies, r.ids[i] == placeholder ? 0 : r.loss_mask[i]);
    }
    size_t inputs = expanded[b].size() - 1;
    const size_t last_placeholder =
        size_t(std::find(r.ids.begin(), r.ids.end(), placeholder) - r.ids.begin()) + patches - 1;
    if (last_placeholder >= max_inputs)
      throw Error(fmt::format("an images record whose picture ends at position {}, past the decoder's {}",
                              last_placeholder + 1, max_inputs));
    if (inputs > max_inputs) {
      inputs = max_inputs;
      ++rows.cut;
    }
    expanded[b].resize(inputs + 1);
    longest = std::max(longest, inputs);
  }
  rows.Tn = longest;
  rows.inputs.assign(records.size() * longest, 0);
  rows.targets.assign(records.size() * longest, nn::kIgnore);
  rows.pixels.clear();
  rows.pictures = records.size();
  rows.targets_counted = 0;
  for (size_t b = 0; b < records.size(); ++b) {
    uint32_t* in = rows.inputs.data() + b * longest;
    uint32_t* target = rows.targets.data() + b * longest;
    for (size_t t = 0; t + 1 < expanded[b].size(); ++t) {
      in[t] = expanded[b][t];
      if (learned[b][t + 1]) {
        target[t] = expanded[b][t + 1];
        ++rows.targets_counted;
      }
    }
    rows.pixels.insert(rows.pixels.end(), records[b].pixels.begin(), records[b].pixels.end());
  }
}

}  // namespace lmpipe::train
