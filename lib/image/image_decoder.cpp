#include "image/image_decoder.h"

#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "image/jpeg_decoder.h"
#include "image/png_decoder.h"

namespace lmpipe::image {

void check_size(const char* format, uint64_t width, uint64_t height, const DecodeLimits& limits) {
  if (width == 0 || height == 0) throw Error(fmt::format("a {} of {} x {} pixels", format, width, height));
  if (width * height > limits.max_pixels)
    throw Error(fmt::format("a {} of {} x {} pixels, more than --max-pixels {}", format, width, height,
                            limits.max_pixels));
}

void decode_image(std::span<const uint8_t> bytes, const DecodeLimits& limits, RgbImage& out) {
  static constexpr uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  static constexpr uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF};
  if (bytes.size() >= sizeof kPng && std::memcmp(bytes.data(), kPng, sizeof kPng) == 0)
    return decode_png(bytes, limits, out);
  if (bytes.size() >= sizeof kJpeg && std::memcmp(bytes.data(), kJpeg, sizeof kJpeg) == 0)
    return decode_jpeg(bytes, limits, out);
  throw Error("not a PNG or JPEG file");
}

}  // namespace lmpipe::image
