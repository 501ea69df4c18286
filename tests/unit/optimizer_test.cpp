// Gradient clipping as torch's clip_grad_norm_ computes it, and AdamW with the clip folded into its update:
// the same parameters, bit for bit, as scaling the gradients first.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "nn/optimizer.h"
#include "nn/parameters.h"

using namespace lmpipe::nn;

TEST_CASE("the gradient norm, and the factor that clips it as torch's clip_grad_norm_") {
  std::vector<float> grads(1000, 0.0f);
  grads[3] = 3.0f;
  grads[997] = -4.0f;
  CHECK(grad_norm(grads.data(), grads.size()) == doctest::Approx(5.0).epsilon(1e-15));
  CHECK(clip_scale(5.0, 1.0) == float(1.0 / (5.0 + 1e-6)));
  CHECK(clip_scale(5.0, 5.0) == 1.0f);  // at the limit: left alone
  CHECK(clip_scale(0.5, 1.0) == 1.0f);
  CHECK(clip_scale(5.0, 0.0) == 1.0f);  // 0: clipping off
}

TEST_CASE("AdamW with a gradient scale moves the parameters as AdamW on the scaled gradients") {
  ParameterLayout layout;
  layout.add("w", {40, 7}, true);  // decayed
  layout.add("b", {7}, false);
  const size_t n = layout.total();
  std::vector<float> start(n), grads(n);
  for (size_t i = 0; i < n; ++i) {
    start[i] = 0.02f * std::sin(float(i));
    grads[i] = 3.0f * std::cos(0.7f * float(i));
  }
  AdamWOptions options;
  options.beta2 = 0.95;
  options.weight_decay = 0.1;
  AdamW fused(layout, options), plain(layout, options);
  std::vector<float> a = start, b = start;
  for (int step = 0; step < 3; ++step) {
    const double norm = grad_norm(grads.data(), n);
    const float scale = clip_scale(norm, 1.0);
    REQUIRE(scale < 1.0f);
    fused.step(a.data(), grads.data(), 6e-4, scale);
    std::vector<float> clipped = grads;
    for (float& g : clipped) g *= scale;
    plain.step(b.data(), clipped.data(), 6e-4);
    for (size_t i = 0; i < n; ++i) grads[i] += 0.5f * std::sin(float(i * step));
  }
  CHECK(a == b);
  CHECK(a != start);
}

TEST_CASE("AdamW's step_and_zero_grads makes step's update and leaves the gradients zero") {
  ParameterLayout layout;
  layout.add("w", {33, 5}, true);
  layout.add("b", {5}, false);
  const size_t n = layout.total();
  std::vector<float> a(n), grads(n);
  for (size_t i = 0; i < n; ++i) a[i] = 0.02f * std::cos(float(i));
  std::vector<float> b = a;
  AdamWOptions options;
  options.weight_decay = 0.1;
  AdamW zeroing(layout, options), keeping(layout, options);
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < n; ++i) grads[i] = std::sin(0.3f * float(i + step));
    keeping.step(b.data(), grads.data(), 1e-3, 0.5f);
    zeroing.step_and_zero_grads(a.data(), grads.data(), 1e-3, 0.5f);
    CHECK(a == b);
    CHECK(std::all_of(grads.begin(), grads.end(), [](float g) { return g == 0.0f; }));
  }
  CHECK(zeroing.steps() == 3);
}

TEST_CASE("AdamW leaves frozen tensors alone, keeps moments for the others, reads the trained range's gradients") {
  ParameterLayout all, partly;
  for (ParameterLayout* l : {&all, &partly}) {
    l->add("vision.w", {3, 2}, true);
    l->add("projector.w", {4}, true);
    l->add("projector.b", {2}, false);
    l->add("language.w", {5}, true);
  }
  CHECK(all.trained_range() == std::pair<size_t, size_t>(0, 17));
  CHECK(partly.set_frozen("vision.") == 1);
  CHECK(partly.set_frozen("language.") == 1);
  CHECK(partly.trained_range() == std::pair<size_t, size_t>(6, 12));
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW everything(all, o), some(partly, o);
  CHECK(some.m().size() == 6);
  std::vector<float> p1(17), p2, g1(17), g2(6);
  for (size_t i = 0; i < 17; ++i) {
    p1[i] = 0.1f * float(i) - 0.5f;
    g1[i] = 0.03f * float(i % 5) - 0.05f;
  }
  p2 = p1;
  for (int step = 0; step < 3; ++step) {
    std::copy(g1.begin() + 6, g1.begin() + 12, g2.begin());  // the gradients of the trained range alone
    everything.step(p1.data(), g1.data(), 1e-2);
    some.step_and_zero_grads(p2.data(), g2.data(), 1e-2);
    CHECK(std::all_of(g2.begin(), g2.end(), [](float g) { return g == 0; }));
  }
  for (size_t i = 0; i < 17; ++i) {
    CAPTURE(i);
    const bool trained = i >= 6 && i < 12;
    // The trained slice moves as it does with nothing frozen; the frozen ones keep their values.
    CHECK(p2[i] == (trained ? p1[i] : 0.1f * float(i) - 0.5f));
  }
  CHECK(std::equal(some.m().begin(), some.m().end(), everything.m().begin() + 6));
  // The range spans a frozen tensor between trained ones; with every tensor frozen it is empty.
  ParameterLayout middle = all;
  CHECK(middle.set_frozen("projector.b") == 1);
  CHECK(middle.trained_range() == std::pair<size_t, size_t>(0, 17));
  ParameterLayout none = all;
  CHECK(none.set_frozen("") == 4);
  CHECK(none.trained_range() == std::pair<size_t, size_t>(0, 0));
}
