// KV-cached decoding gives the logits of a full recomputation, for both layouts, a prompt at once or a
// token at a time, and after reset().
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "nn/gpt.h"
#include "nn/gpt_decoder.h"

using namespace lmpipe::nn;

namespace {

GptConfig small(GptArch arch) {
  GptConfig c;
  c.arch = arch;
  c.vocab_size = 37;
  c.max_len = 12;
  c.n_layer = 3;
  c.n_head = 4;
  c.d_model = 16;
  c.d_ff = 40;
  return c;
}

}  // namespace

TEST_CASE("cached decoding equals recomputing the whole prefix") {
  for (GptArch arch : {GptArch::kGpt2, GptArch::kGpt1}) {
    CAPTURE(int(arch));
    Gpt<double> model(small(arch));
    model.init(5);
    std::mt19937 rng(2);
    std::normal_distribution<double> noise(0, 0.1);
    for (double& x : model.params()) x += noise(rng);  // layer norms and biases away from 1 and 0
    const std::vector<uint32_t> tokens = {3, 30, 7, 7, 0, 36, 12, 5, 9, 21, 2, 18};
    const size_t V = model.config().vocab_size;
    GptDecoder<double> decoder(model);
    std::vector<double> cached(V), full(V);
    for (const size_t prompt : {size_t(1), size_t(5)}) {
      CAPTURE(prompt);
      decoder.reset();
      decoder.append(tokens.data(), prompt, cached.data());
      for (size_t n = prompt; n <= tokens.size(); ++n) {
        if (n > prompt) decoder.append(&tokens[n - 1], 1, cached.data());
        CHECK(decoder.position() == n);
        model.last_logits(full.data(), tokens.data(), 1, n);
        double worst = 0;
        for (size_t v = 0; v < V; ++v) worst = std::max(worst, std::abs(cached[v] - full[v]));
        CHECK(worst < 1e-12);
      }
    }
    // The context is full: one more token does not fit.
    CHECK_THROWS(decoder.append(tokens.data(), 1, cached.data()));
    // Out-of-vocabulary ids are refused before anything changes.
    decoder.reset();
    const uint32_t bad = uint32_t(V);
    CHECK_THROWS(decoder.append(&bad, 1, cached.data()));
    CHECK(decoder.position() == 0);
  }
}

TEST_CASE("a model made without gradients cannot train") {
  Gpt<float> model(small(GptArch::kGpt2), ModelBuffers::kInference);
  const std::vector<uint32_t> x = {1, 2}, y = {2, 3};
  CHECK_THROWS(model.forward_backward(x.data(), y.data(), 1, 2));
}
