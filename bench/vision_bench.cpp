// vision-bench: pictures per second through a CLIP vision tower (nn::ClipVision, every layer: feature
// layer -1), forward only, at a batch size, with random weights and pixels; the median of several runs.
//   vision-bench [--preset clip-vit-b-32] [--batch 1] [--threads N] [--runs 7] [--precision fp32|bf16]
// bf16 computes the linear layers' products as sample --precision bf16 does (nn/onednn_gemm.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nn/clip_vision.h"
#include "nn/onednn_gemm.h"
#include "nn/runtime.h"

int main(int argc, char** argv) {
  lmpipe::nn::prepare_compute_environment(argv);
  std::string preset = "clip-vit-b-32", precision = "fp32";
  size_t batch = 1, runs = 7;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--preset") == 0) preset = argv[i + 1];
    if (std::strcmp(argv[i], "--batch") == 0) batch = size_t(std::atol(argv[i + 1]));
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--runs") == 0) runs = size_t(std::atol(argv[i + 1]));
    if (std::strcmp(argv[i], "--precision") == 0) precision = argv[i + 1];
  }
  lmpipe::nn::set_compute_threads(threads);
  lmpipe::nn::VisionConfig config = *lmpipe::nn::vision_preset(preset);
  config.feature_layer = -1;
  lmpipe::nn::ClipVision<float> tower(config, lmpipe::nn::ModelBuffers::kInference);
  tower.init(1);
  const bool bf16 = lmpipe::nn::select_precision(precision, "vision-bench", false);
  const auto weights_bf16 = lmpipe::nn::copy_for_bf16_products(tower.params().data(), tower.params().size());
  std::vector<uint8_t> pixels(batch * config.image_size * config.image_size * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 2654435761u >> 24);
  tower.features(pixels.data(), batch);  // plans the activations
  std::vector<double> seconds;
  float check = 0;
  for (size_t r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    check += tower.features(pixels.data(), batch)[0];
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf("RESULT vision-bench preset=%s batch=%zu precision=%s images_per_s=%.2f kernels=%s check=%g\n",
              preset.c_str(), batch, bf16 ? "bf16" : "fp32", double(batch) / seconds[seconds.size() / 2],
              lmpipe::nn::blas_kernels(), double(check));
  return 0;
}
