// image-bench: pictures per second through the image layer on one core, the loops make-images runs without
// its JSON, text and shard work: decoding alone (the bare library loop), and decoding with CLIP's resize
// and crop. Files are read into memory first, so the disk is not timed.
//   image-bench SIZE FILE...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/input_file.h"
#include "image/clip_resize.h"
#include "image/image_decoder.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: image-bench SIZE FILE...\n");
    return 2;
  }
  const auto size = uint32_t(std::atoi(argv[1]));
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) files.push_back(lmpipe::read_file(argv[i]));
  lmpipe::image::RgbImage decoded, cropped;
  uint64_t checksum = 0;
  for (const bool resize : {false, true}) {
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      for (const std::string& f : files) {
        lmpipe::image::decode_image({reinterpret_cast<const uint8_t*>(f.data()), f.size()}, {}, decoded);
        if (resize) lmpipe::image::clip_resize_crop(decoded, size, cropped);
        checksum += resize ? cropped.pixels[0] : decoded.pixels[0];
      }
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("RESULT image-bench %s images_per_s=%.1f images=%zu check=%llu\n", resize ? "decode+resize" : "decode",
                double(files.size()) / best, files.size(), (unsigned long long)checksum);
  }
  return 0;
}
