#include "image/jpeg_decoder.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <vector>

#include <jpeglib.h>  // after <cstdio>: it uses FILE without including it
#include <jerror.h>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::image {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

void on_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

// Warnings are not printed; the end of the file inside the picture is an error, as PIL makes it.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
  if (level < 0) ++cinfo->err->num_warnings;
}

// PIL's cmyk2rgb (libImaging/Convert.c), on CMYK as PIL stores it (ink amounts, 255 = full).
uint8_t cmyk_channel(int ink, int black) {
  const int nk = 255 - black, t = ink * nk + 128;
  return uint8_t(std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255));
}

// libjpeg reports errors by longjmp to here: this frame holds no object with a destructor that the jump
// could skip (row and out are the caller's, made before the jump point), and the caller frees cinfo.
bool read_jpeg(jpeg_decompress_struct& cinfo, ErrorManager& errors, std::span<const uint8_t> bytes,
               const DecodeLimits& limits, std::vector<uint8_t>& row, RgbImage& out, uint64_t& width,
               uint64_t& height) {
  if (setjmp(errors.jump)) return false;
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  width = cinfo.image_width;
  height = cinfo.image_height;
  if (width * height > limits.max_pixels || width == 0 || height == 0) return true;  // the caller says so
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const int channels = cinfo.output_components;
  out.width = uint32_t(width);
  out.height = uint32_t(height);
  out.pixels.resize(3 * width * height);
  row.resize(size_t(channels) * width);
  for (uint64_t y = 0; cinfo.output_scanline < cinfo.output_height; ++y) {
    JSAMPROW rows[1] = {row.data()};
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
    uint8_t* dst = out.pixels.data() + 3 * width * y;
    for (uint64_t x = 0; x < width; ++x, dst += 3) {
      const uint8_t* p = row.data() + size_t(channels) * x;
      if (channels == 1) {
        dst[0] = dst[1] = dst[2] = p[0];
      } else if (channels == 3) {
        dst[0] = p[0], dst[1] = p[1], dst[2] = p[2];
      } else {
        // PIL reads every CMYK JPEG as inverted ("CMYK;I", Adobe's convention: 255 - ink).
        const auto ink = [&](int c) { return 255 - p[c]; };
        dst[0] = cmyk_channel(ink(0), ink(3));
        dst[1] = cmyk_channel(ink(1), ink(3));
        dst[2] = cmyk_channel(ink(2), ink(3));
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

}  // namespace

void decode_jpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits, RgbImage& out) {
  jpeg_decompress_struct cinfo{};
  ErrorManager errors;
  cinfo.err = jpeg_std_error(&errors.pub);
  errors.pub.error_exit = on_error;
  errors.pub.emit_message = on_message;
  std::vector<uint8_t> row;
  uint64_t width = 0, height = 0;
  const bool ok = read_jpeg(cinfo, errors, bytes, limits, row, out, width, height);
  jpeg_destroy_decompress(&cinfo);
  if (!ok) throw Error(fmt::format("a corrupt JPEG (libjpeg says: {})", errors.message));
  check_size("JPEG", width, height, limits);
}

}  // namespace lmpipe::image
