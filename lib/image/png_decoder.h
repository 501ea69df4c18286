#pragma once
// PNG files to RGB with libpng, converted as PIL's convert("RGB") converts them: palettes looked up
// (transparency dropped), grey repeated into the three channels, 1-, 2- and 4-bit grey scaled to 8 bits,
// alpha dropped, 16-bit channels cut to their high byte (PIL does that for RGB; it clips 16-bit grey at
// 255 instead, which makes most such pictures white). No gamma or colour profile is applied (nor by PIL).
#include <cstdint>
#include <span>

#include "image/image_decoder.h"
#include "image/rgb_image.h"

namespace lmpipe::image {

// Throws Error: "a corrupt PNG (libpng says: ...)", or a size past the limits (checked before the pixels
// are allocated).
void decode_png(std::span<const uint8_t> bytes, const DecodeLimits& limits, RgbImage& out);

}  // namespace lmpipe::image
