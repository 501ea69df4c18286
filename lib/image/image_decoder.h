#pragma once
// Picture files to RGB pixels: the format by its signature, PNG with libpng (png_decoder.h), JPEG with
// libjpeg-turbo (jpeg_decoder.h), each converted to RGB as PIL's convert("RGB") converts it. EXIF
// orientation is not applied (neither does CLIP's image processor).
#include <cstdint>
#include <span>

#include "image/rgb_image.h"

namespace lmpipe::image {

struct DecodeLimits {
  // A picture of more pixels is refused before its pixels are decoded: PIL's Image.MAX_IMAGE_PIXELS, its
  // guard against decompression bombs.
  uint64_t max_pixels = 89'478'485;
};

// Decodes a file's bytes into out (its buffer reused). Throws Error saying what is wrong, without a
// place (the caller knows the file): not a PNG or JPEG, a picture of no pixels or of more than
// limits.max_pixels, or bytes the decoder cannot read (its reason quoted).
void decode_image(std::span<const uint8_t> bytes, const DecodeLimits& limits, RgbImage& out);

// Throws the Error for a picture of no pixels or of more than the limit allows.
void check_size(const char* format, uint64_t width, uint64_t height, const DecodeLimits& limits);

}  // namespace lmpipe::image
