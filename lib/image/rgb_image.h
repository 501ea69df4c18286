#pragma once
// A picture as the image layer hands it on: 8-bit RGB, row after row from the top, each pixel's red,
// green and blue bytes together (the layout of an images shard's pixels).
#include <cstdint>
#include <vector>

namespace lmpipe::image {

struct RgbImage {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // 3 * width * height
};

}  // namespace lmpipe::image
