#pragma once
// Images records (make-images' shards) as LLaVA's training rows: a record's placeholder id stands for its
// picture's patch features, so it becomes `patches` placeholder ids in a row, as LlavaProcessor expands
// <image>; a record's ids but the last are inputs, and the next id is a target where the loss mask marks
// it (never a placeholder); rows are padded to the longest (input 0, no target).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "train/record_loader.h"

namespace lmpipe::train {

// An images record, copied out of its block.
struct ImageRecord {
  std::vector<uint32_t> ids;
  std::vector<uint8_t> loss_mask, pixels;
};

struct ImageRows {
  size_t Tn = 0;
  std::vector<uint32_t> inputs, targets;  // [B * Tn]
  std::vector<uint8_t> pixels;            // [pictures, S, S, 3], in the rows' order
  size_t pictures = 0;
  size_t targets_counted = 0;  // targets that are not kIgnore
  size_t cut = 0;              // records whose expanded inputs passed max_inputs and lost their end
};

// The next `count` records of loader; throws Error naming the file for a picture that is not
// image_size x image_size (the vision tower's).
std::vector<ImageRecord> take_image_records(RecordLoader& loader, size_t count, size_t image_size);

// The rows of the records, each placeholder expanded to `patches` ids and each row's inputs cut to
// max_inputs (the decoder's positions). Throws Error for a record with no placeholder, more than one, or
// its expansion past max_inputs.
void make_image_rows(std::span<const ImageRecord> records, uint32_t placeholder, size_t patches, size_t max_inputs,
                     ImageRows& rows);

}  // namespace lmpipe::train
