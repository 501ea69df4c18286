// libFuzzer target for make-images's pictures: bytes through the PNG and JPEG decoders (libpng, libjpeg-turbo) and
// CLIP's resize and crop, at a crop size the input's length picks (1 to 24). Every input must end in a
// picture of that size or lmpipe::Error; anything else (a crash, a leak, a sanitizer report, an
// allocation past libFuzzer's limit) is a bug. The pixel limit is lowered so that a header claiming a
// huge picture is refused before it is allocated, as --max-pixels does.
#include <cstdint>

#include "core/error.h"
#include "image/clip_resize.h"
#include "image/image_decoder.h"

using namespace lmpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  image::RgbImage decoded, cropped;
  try {
    image::decode_image({data, size}, image::DecodeLimits{1 << 22}, decoded);
  } catch (const Error&) {
    return 0;
  }
  const auto side = uint32_t(1 + size % 24);
  image::clip_resize_crop(decoded, side, cropped);
  if (cropped.width != side || cropped.height != side || cropped.pixels.size() != 3u * side * side) __builtin_trap();
  return 0;
}
