// Pictures through the image layer against transformers' CLIPImageProcessor (tests/reference/
// make_image_reference.py): PNGs and JPEGs in every layout decode to PIL's pixels, and the resize and crop
// give the processor's bytes, exactly. Then the refusals.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/input_file.h"
#include "image/clip_resize.h"
#include "image/image_decoder.h"
#include "io/safetensors.h"

using namespace lmpipe;
using namespace lmpipe::image;

namespace {

const std::string kDir = std::string(LMPIPE_TEST_DATA_DIR) + "/image/";

std::vector<uint8_t> file_bytes(const std::string& name) {
  const std::string s = read_file(kDir + name);
  return {s.begin(), s.end()};
}

// The reference tensor's pixels as a picture.
RgbImage reference(const io::SafetensorsFile& f, const std::string& name) {
  const io::SafeTensor* t = f.find(name);
  REQUIRE_MESSAGE(t != nullptr, name);
  RgbImage im;
  im.height = uint32_t(t->shape.at(0));
  im.width = uint32_t(t->shape.at(1));
  for (const uint32_t v : f.read_ids(*t)) im.pixels.push_back(uint8_t(v));
  return im;
}

int worst_difference(const RgbImage& a, const RgbImage& b) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  int worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

RgbImage decode(const std::vector<uint8_t>& bytes, uint64_t max_pixels = DecodeLimits{}.max_pixels) {
  RgbImage im;
  decode_image(bytes, DecodeLimits{max_pixels}, im);
  return im;
}

std::string decode_error(const std::vector<uint8_t>& bytes, uint64_t max_pixels = DecodeLimits{}.max_pixels) {
  try {
    decode(bytes, max_pixels);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// zlib's CRC-32, which PNG chunks end with.
uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFF;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320 & (0 - (c & 1)));
  }
  return ~c;
}

void append_chunk(std::vector<uint8_t>& b, const char* type, const std::vector<uint8_t>& data) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(data.size() >> s));
  const size_t start = b.size();
  b.insert(b.end(), type, type + 4);
  b.insert(b.end(), data.begin(), data.end());
  const uint32_t crc = crc32(&b[start], b.size() - start);
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(crc >> s));
}

// The start of a PNG of w x h 8-bit RGB pixels: its header, then an IDAT chunk with no data.
std::vector<uint8_t> png_start(uint32_t w, uint32_t h) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> header;
  for (const uint32_t v : {w, h})
    for (int s = 24; s >= 0; s -= 8) header.push_back(uint8_t(v >> s));
  for (const uint8_t v : {8, 2, 0, 0, 0}) header.push_back(v);
  append_chunk(b, "IHDR", header);
  append_chunk(b, "IDAT", {});
  return b;
}

}  // namespace

TEST_CASE("images: PNGs and JPEGs decode to PIL's RGB and resize and crop to CLIPImageProcessor's bytes") {
  const io::SafetensorsFile f(kDir + "expected.safetensors");
  const auto files = nlohmann::json::parse(f.metadata()["files"].get<std::string>());
  const auto sizes = nlohmann::json::parse(f.metadata()["sizes"].get<std::string>()).get<std::vector<uint32_t>>();
  REQUIRE(files.size() >= 12);
  for (const std::string name : files) {
    CAPTURE(name);
    const RgbImage ours = decode(file_bytes(name));
    const RgbImage pil = reference(f, name + "/decoded");
    CHECK(worst_difference(ours, pil) == 0);
    for (const uint32_t size : sizes) {
      CAPTURE(size);
      const RgbImage want = reference(f, name + "/" + std::to_string(size));
      RgbImage got;
      clip_resize_crop(pil, size, got);  // the resize alone, from the same pixels: byte-exact
      CHECK(worst_difference(got, want) == 0);
      clip_resize_crop(ours, size, got);
      CHECK(worst_difference(got, want) == 0);
    }
  }
}

TEST_CASE("images: the shape before the crop is transformers' get_resize_output_image_size") {
  CHECK(clip_resized_shape(640, 480, 224).width == 298);  // int(224 * 640 / 480) = int(298.67)
  CHECK(clip_resized_shape(640, 480, 224).height == 224);
  CHECK(clip_resized_shape(480, 640, 224).width == 224);
  CHECK(clip_resized_shape(480, 640, 224).height == 298);
  CHECK(clip_resized_shape(300, 300, 336).width == 336);
  CHECK(clip_resized_shape(100000, 1, 224).width == 22400000);
}

TEST_CASE("images: extreme aspect ratios resize without a picture of the full resized size") {
  for (const auto& shape : {std::pair<uint32_t, uint32_t>{100000, 2}, {1, 70000}, {1, 1}, {3, 1}}) {
    const uint32_t w = shape.first, h = shape.second;
    CAPTURE(w);
    CAPTURE(h);
    RgbImage in;
    in.width = w;
    in.height = h;
    in.pixels.resize(3 * size_t(w) * h);
    for (size_t i = 0; i < in.pixels.size(); ++i) in.pixels[i] = uint8_t(i * 7);
    RgbImage out;
    clip_resize_crop(in, 224, out);
    CHECK(out.width == 224);
    CHECK(out.height == 224);
    CHECK(out.pixels.size() == 3 * 224 * 224);
  }
  // A picture already of the crop's size is its own crop.
  RgbImage in;
  in.width = in.height = 5;
  for (int i = 0; i < 75; ++i) in.pixels.push_back(uint8_t(i * 3));
  RgbImage out;
  clip_resize_crop(in, 5, out);
  CHECK(out.pixels == in.pixels);
}

TEST_CASE("images: what the decoder refuses, each with one clear reason") {
  CHECK(decode_error({}) == "not a PNG or JPEG file");
  CHECK(decode_error({'G', 'I', 'F', '8', '9', 'a'}) == "not a PNG or JPEG file");
  const std::vector<uint8_t> png = file_bytes("rgb.png");
  CHECK(decode_error(std::vector<uint8_t>(png.begin(), png.begin() + ptrdiff_t(png.size() / 2))).rfind("a corrupt PNG", 0) == 0);
  CHECK(decode_error(std::vector<uint8_t>(png.begin(), png.begin() + 8)).rfind("a corrupt PNG", 0) == 0);
  std::vector<uint8_t> jpeg = file_bytes("baseline.jpg");
  std::fill(jpeg.begin() + 200, jpeg.end(), uint8_t(0x55));
  const std::string corrupt_jpeg = decode_error(jpeg);
  CHECK((corrupt_jpeg.empty() || corrupt_jpeg.rfind("a corrupt JPEG", 0) == 0));  // garbage scan data may decode
  CHECK(decode_error(std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + 20)).rfind("a corrupt JPEG", 0) == 0);
  CHECK(decode_error(png_start(0, 10)) == "a corrupt PNG (libpng says: Invalid IHDR data)");
  CHECK(decode_error(png_start(100000, 100000)) == "a PNG of 100000 x 100000 pixels, more than --max-pixels 89478485");
  CHECK(decode_error(png_start(10, 10)).rfind("a corrupt PNG (libpng says: ", 0) == 0);  // no pixel data
  CHECK(decode_error(png, 61 * 47 - 1) == "a PNG of 61 x 47 pixels, more than --max-pixels 2866");
  CHECK(decode(png, 61 * 47).width == 61);
}
