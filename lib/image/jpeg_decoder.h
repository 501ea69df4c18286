#pragma once
// JPEG files to RGB with libjpeg-turbo, the library PIL decodes them with, at PIL's settings (its default
// inverse DCT and fancy upsampling), so the pixels are PIL's: grey repeated into the three channels, CMYK
// and YCCK converted with PIL's formula (read as Adobe's inverted CMYK, as PIL reads every CMYK JPEG). A file that ends
// before its picture does is refused, as PIL refuses it; corrupt data libjpeg can resynchronise after is
// decoded as PIL decodes it.
#include <cstdint>
#include <span>

#include "image/image_decoder.h"
#include "image/rgb_image.h"

namespace lmpipe::image {

// Throws Error: "a corrupt JPEG (libjpeg says: ...)", or a size past the limits (checked before the pixels
// are decoded).
void decode_jpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits, RgbImage& out);

}  // namespace lmpipe::image
