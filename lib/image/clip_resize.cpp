#include "image/clip_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit channels

// Pillow's bicubic_filter (Keys' cubic, a = -0.5) and its support.
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
constexpr double kSupport = 2.0;

// The taps of output pixels [first, first + count) of one axis resized from in_size to out_size pixels:
// for each, the first input pixel and its fixed-point weights (Pillow's precompute_coeffs and
// normalize_coeffs_8bpc).
struct AxisTaps {
  int ksize = 0;
  std::vector<int> start, length;  // per output pixel
  std::vector<int32_t> weights;    // ksize per output pixel
};

AxisTaps axis_taps(uint64_t in_size, uint64_t out_size, uint64_t first, uint32_t count) {
  const double scale = double(float(in_size)) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = kSupport * filter_scale;
  AxisTaps taps;
  taps.ksize = int(std::ceil(support)) * 2 + 1;
  taps.start.resize(count);
  taps.length.resize(count);
  taps.weights.assign(size_t(count) * size_t(taps.ksize), 0);
  std::vector<double> k(size_t(taps.ksize));
  for (uint32_t i = 0; i < count; ++i) {
    const double center = (double(first + i) + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), int64_t(in_size));
    const int n = int(hi - lo);
    double sum = 0.0;
    for (int x = 0; x < n; ++x) sum += k[size_t(x)] = bicubic((double(x + lo) - center + 0.5) * ss);
    int32_t* w = &taps.weights[size_t(i) * size_t(taps.ksize)];
    for (int x = 0; x < n; ++x) {
      const double v = sum != 0.0 ? k[size_t(x)] / sum : k[size_t(x)];
      w[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    taps.start[i] = int(lo);
    taps.length[i] = n;
  }
  return taps;
}

uint8_t clip8(int32_t sum) { return uint8_t(std::clamp(sum >> kPrecisionBits, 0, 255)); }

}  // namespace

ResizedShape clip_resized_shape(uint32_t width, uint32_t height, uint32_t size) {
  const bool portrait = width <= height;
  const uint64_t shortest = portrait ? width : height, longest = portrait ? height : width;
  // int(size * long / short) in Python: the quotient of doubles, truncated.
  const auto other = uint64_t(double(size) * double(longest) / double(shortest));
  return portrait ? ResizedShape{size, other} : ResizedShape{other, size};
}

void clip_resize_crop(const RgbImage& in, uint32_t size, RgbImage& out) {
  if (in.width == 0 || in.height == 0 || size == 0)
    throw Error(fmt::format("cannot resize a {} x {} picture to {} x {}", in.width, in.height, size, size));
  const ResizedShape resized = clip_resized_shape(in.width, in.height, size);
  // transformers' center_crop: the top-left corner at (resized - size) // 2 on each axis.
  const uint64_t left = (resized.width - size) / 2, top = (resized.height - size) / 2;
  // Pillow skips an axis whose size does not change.
  const bool horizontal = resized.width != in.width, vertical = resized.height != in.height;
  const AxisTaps h = axis_taps(in.width, resized.width, left, size);
  const AxisTaps v = axis_taps(in.height, resized.height, top, size);
  // The input rows the square needs, and the horizontal pass over them (or the rows as they are).
  const int64_t row_first = vertical ? v.start.front() : int64_t(top);
  const int64_t row_last = vertical ? int64_t(v.start.back()) + v.length.back() : int64_t(top) + size;
  const auto rows = size_t(row_last - row_first);
  std::vector<uint8_t> mid(rows * size * 3);
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t* src = &in.pixels[(size_t(row_first) + r) * in.width * 3];
    uint8_t* dst = &mid[r * size * 3];
    if (!horizontal) {
      std::copy_n(src + left * 3, size_t(size) * 3, dst);
      continue;
    }
    for (uint32_t x = 0; x < size; ++x) {
      const int32_t* w = &h.weights[size_t(x) * size_t(h.ksize)];
      const uint8_t* p = src + size_t(h.start[x]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int t = 0; t < h.length[x]; ++t, p += 3) {
        s0 += p[0] * w[t];
        s1 += p[1] * w[t];
        s2 += p[2] * w[t];
      }
      dst[3 * x] = clip8(s0);
      dst[3 * x + 1] = clip8(s1);
      dst[3 * x + 2] = clip8(s2);
    }
  }
  out.width = out.height = size;
  out.pixels.resize(size_t(size) * size * 3);
  if (!vertical) {
    std::copy(mid.begin(), mid.end(), out.pixels.begin());
    return;
  }
  // Row by row: each output row a weighted sum of whole input rows, which vectorises.
  const size_t row_bytes = size_t(size) * 3;
  std::vector<int32_t> sum(row_bytes);
  for (uint32_t y = 0; y < size; ++y) {
    const int32_t* w = &v.weights[size_t(y) * size_t(v.ksize)];
    const uint8_t* row = &mid[size_t(v.start[y] - row_first) * row_bytes];
    std::fill(sum.begin(), sum.end(), 1 << (kPrecisionBits - 1));
    for (int t = 0; t < v.length[y]; ++t, row += row_bytes)
      for (size_t c = 0; c < row_bytes; ++c) sum[c] += row[c] * w[t];
    uint8_t* dst = &out.pixels[y * row_bytes];
    for (size_t c = 0; c < row_bytes; ++c) dst[c] = clip8(sum[c]);
  }
}

}  // namespace lmpipe::image
