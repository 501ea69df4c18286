#include "image/png_decoder.h"

#include <png.h>

#include <csetjmp>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::image {
namespace {

// What libpng's callbacks reach: the bytes still to read and the first error's text.
struct Source {
  std::span<const uint8_t> bytes;
  size_t at = 0;
  char message[200] = {};
};

void on_error(png_structp png, png_const_charp message) {
  auto* source = static_cast<Source*>(png_get_error_ptr(png));
  std::snprintf(source->message, sizeof source->message, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep data, size_t length) {
  auto* source = static_cast<Source*>(png_get_io_ptr(png));
  if (length > source->bytes.size() - source->at) png_error(png, "the file ends inside the picture");
  std::memcpy(data, source->bytes.data() + source->at, length);
  source->at += length;
}

// libpng reports errors by longjmp to here: this frame holds no object with a destructor that the jump
// could skip (rows and out are the caller's, made before the jump point), and the caller frees png.
bool read_png(png_structp png, png_infop info, const DecodeLimits& limits, std::vector<png_bytep>& rows,
              RgbImage& out, uint64_t& width, uint64_t& height) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);  // the header and the chunks before the pixels, none of which are allocated yet
  width = png_get_image_width(png, info);
  height = png_get_image_height(png, info);
  if (width * height > limits.max_pixels) return true;  // the caller says so
  const int depth = png_get_bit_depth(png, info), colour = png_get_color_type(png, info);
  if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);  // the picture's own, or the one the palette expansion makes of transparency
  if (colour == PNG_COLOR_TYPE_GRAY || colour == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != 3 * width) png_error(png, "not 8-bit RGB after conversion");
  out.width = uint32_t(width);
  out.height = uint32_t(height);
  out.pixels.resize(3 * width * height);
  rows.resize(height);
  for (uint64_t y = 0; y < height; ++y) rows[y] = out.pixels.data() + 3 * width * y;
  png_read_image(png, rows.data());
  return true;
}

}  // namespace

void decode_png(std::span<const uint8_t> bytes, const DecodeLimits& limits, RgbImage& out) {
  Source source{bytes};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw Error("out of memory for a PNG decoder");
  }
  png_set_read_fn(png, &source, on_read);
  std::vector<png_bytep> rows;
  uint64_t width = 0, height = 0;
  const bool ok = read_png(png, info, limits, rows, out, width, height);
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) throw Error(fmt::format("a corrupt PNG (libpng says: {})", source.message));
  check_size("PNG", width, height, limits);
}

}  // namespace lmpipe::image
