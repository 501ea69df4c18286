#pragma once
// The geometry and arithmetic of CLIP's image processor (transformers' CLIPImageProcessor, which LLaVA
// uses): the shortest side scaled to the crop size with PIL's bicubic filter, the other side to
// int(size * long / short), then the centred size x size square cut out. The filter is Pillow's resampling
// (libImaging/Resample.c) step for step: the cubic with a = -0.5 widened by the scale when shrinking, taps
// clipped to the picture and their weights renormalised, 22-bit fixed-point weights, a horizontal pass
// rounded to 8 bits, then a vertical one; so the pixels are byte-identical to the processor's. Only the
// square is computed, so an extreme aspect ratio costs no more than a square picture.
#include <cstdint>

#include "image/rgb_image.h"

namespace lmpipe::image {

// The side lengths of the picture before the crop: the shortest side size, the other int(size * long / short)
// as transformers' get_resize_output_image_size computes it.
struct ResizedShape {
  uint64_t width = 0, height = 0;
};
ResizedShape clip_resized_shape(uint32_t width, uint32_t height, uint32_t size);

// in resized and cropped into out, size x size (out's buffer reused).
void clip_resize_crop(const RgbImage& in, uint32_t size, RgbImage& out);

}  // namespace lmpipe::image
