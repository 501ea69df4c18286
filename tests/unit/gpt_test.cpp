// The whole GPT: gradients of every parameter by finite differences (both layouts, with dropout),
// parameter counts of the papers' presets, gradient accumulation, causality of the logits.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "finite_differences.h"
#include "nn/gpt.h"
#include "nn/layers.h"
#include "tiny_gpt.h"

using namespace lmpipe::nn;

TEST_CASE("every parameter's gradient matches finite differences") {
  for (GptArch arch : {GptArch::kGpt2, GptArch::kGpt1}) {
    for (float dropout : {0.0f, 0.2f}) {
      CAPTURE(int(arch));
      CAPTURE(dropout);
      Gpt<double> model(tiny_gpt(arch, dropout));
      model.init(3);
      // Perturb layer norms and biases away from 1 and 0 so their gradients are not special.
      std::mt19937 rng(9);
      std::normal_distribution<double> d(0, 0.1);
      for (double& x : model.params()) x += d(rng);
      const size_t B = 2, Tn = 5;
      const std::vector<uint32_t> inputs = {1, 4, 7, 2, 10, 3, 3, 0, 9, 5};
      const std::vector<uint32_t> targets = {4, 7, 2, 10, kIgnore, 3, 0, 9, 5, 6};
      model.set_dropout_key(77);
      model.zero_grad();
      model.forward_backward(inputs.data(), targets.data(), B, Tn);
      const std::vector<double> analytic(model.grads().begin(), model.grads().end());
      // The same key gives the same dropout masks.
      const GradientError e = check_gradients(model.params(), analytic, [&] {
        return model.forward_backward(inputs.data(), targets.data(), B, Tn);
      });
      CAPTURE(e.at);
      CHECK(e.worst < 1e-6);
    }
  }
}

TEST_CASE("a score head: gradients by finite differences, read at each sequence's last token") {
  for (GptArch arch : {GptArch::kGpt2, GptArch::kGpt1}) {
    for (float dropout : {0.0f, 0.2f}) {
      CAPTURE(int(arch));
      CAPTURE(dropout);
      GptConfig config = tiny_gpt(arch, dropout);
      config.head = GptHead::kScore;
      Gpt<double> model(config);
      CHECK(model.layout().find("score.weight") != nullptr);
      CHECK(model.layout().total() == config.parameter_count());
      model.init(3);
      std::mt19937 rng(9);
      std::normal_distribution<double> d(0, 0.1);
      for (double& x : model.params()) x += d(rng);
      const size_t B = 3, Tn = 5;
      const std::vector<uint32_t> inputs = {1, 4, 7, 2, 10, 3, 3, 0, 9, 5, 8, 8, 2, 1, 6};
      const std::vector<uint32_t> last = {4, 2, 0};
      const std::vector<double> weights = {0.7, -1.3, 0.4};  // a loss: sum of weight x score
      const auto loss = [&](bool backward) {
        std::vector<double> scores(B);
        model.set_dropout_key(77);
        model.score(scores.data(), inputs.data(), last.data(), B, Tn, true);
        if (backward) model.score_backward(weights.data(), inputs.data(), last.data(), B, Tn);
        double l = 0;
        for (size_t b = 0; b < B; ++b) l += weights[b] * scores[b];
        return l;
      };
      model.zero_grad();
      loss(true);
      const std::vector<double> analytic(model.grads().begin(), model.grads().end());
      const GradientError e = check_gradients(model.params(), analytic, [&] { return loss(false); });
      CAPTURE(e.at);
      CHECK(e.worst < 1e-6);
      // Tokens after the last one (padding) do not change a score.
      if (dropout == 0.0f) {
        std::vector<double> before(B), after(B);
        model.score(before.data(), inputs.data(), last.data(), B, Tn, false);
        std::vector<uint32_t> padded = inputs;
        padded[3] = padded[4] = 0;  // sequence 0 ends at 4: unchanged positions 0..4 except these
        padded[5 + 3] = padded[5 + 4] = 0;
        padded[10 + 1] = 9;
        model.score(after.data(), padded.data(), last.data(), B, Tn, false);
        CHECK(after[1] == before[1]);
        CHECK(after[2] == before[2]);
        CHECK(after[0] != before[0]);
      }
    }
  }
  Gpt<double> lm(tiny_gpt());
  std::vector<double> out(1);
  const uint32_t ids[2] = {1, 2}, last[1] = {1};
  CHECK_THROWS_WITH(lm.score(out.data(), ids, last, 1, 2, false), "Gpt::score on a model with an LM head");
}

TEST_CASE("parameter counts of the papers' models") {
  const std::pair<const char*, uint64_t> expected[] = {
      {"gpt", 116534784},          {"gpt2", 124439808},       {"gpt2-medium", 354823168}, {"gpt2-large", 774030080},
      {"gpt2-xl", 1557611200},     {"gpt3-small", 125226240}, {"gpt3-xl", 1315723264},     {"gpt3-175b", 174604259328},
  };
  for (const auto& [preset, count] : expected) {
    const char* name = preset;  // CAPTURE takes a variable, not a structured binding (clang)
    CAPTURE(name);
    const auto config = gpt_preset(name);
    REQUIRE(config);
    CHECK(config->parameter_count() == count);
  }
  CHECK(Gpt<float>(*gpt_preset("gpt-baby")).layout().total() == gpt_preset("gpt-baby")->parameter_count());
  // GPT-2 124M at 1024 positions: 6 x (85M block matrices + 38.6M head) + attention, about 0.77 GFLOP.
  CHECK(gpt_preset("gpt2")->training_flops_per_token(1024) == 6 * (12 * 12 * 768ULL * 768 + 50257ULL * 768) + 12 * 6 * 1024 * 768ULL);
  CHECK(Gpt<float>(tiny_gpt(GptArch::kGpt1)).layout().total() == tiny_gpt(GptArch::kGpt1).parameter_count());
  CHECK(!gpt_preset("gpt5"));
}

TEST_CASE("two half batches accumulate the gradient of the whole batch") {
  Gpt<float> model(tiny_gpt(GptArch::kGpt2));
  model.init(5);
  const std::vector<uint32_t> inputs = {1, 4, 7, 2, 10, 3, 3, 0, 9, 5, 2, 2};
  const std::vector<uint32_t> targets = {4, 7, 2, 10, 3, 1, 0, 9, 5, 6, 2, 8};
  model.zero_grad();
  const double whole = model.forward_backward(inputs.data(), targets.data(), 2, 6);
  const std::vector<float> once(model.grads().begin(), model.grads().end());
  model.zero_grad();
  const double first = model.forward_backward(inputs.data(), targets.data(), 1, 6, 0.5f);
  const double second = model.forward_backward(inputs.data() + 6, targets.data() + 6, 1, 6, 0.5f);
  CHECK((first + second) / 2 == doctest::Approx(whole).epsilon(1e-6));
  // Each element to 1e-4 of itself, or of a hundredth of its tensor's RMS gradient where it is smaller
  // (worst now 1.8e-5): an element that is a near-cancelling sum moves with any rounding by more than
  // 1e-4 of itself (one of -9.06e-7 moved by 8e-10 when the GELU backward's rounding changed).
  for (const TensorInfo& t : model.layout().tensors()) {
    CAPTURE(t.name);
    CHECK(worst_scaled_error(model.grads().data() + t.offset, once.data() + t.offset, t.size, 0.01, 0.0) < 1e-4);
  }
}

TEST_CASE("a position's logits depend on no later input") {
  Gpt<double> model(tiny_gpt(GptArch::kGpt2));
  model.init(7);
  std::vector<uint32_t> inputs = {1, 4, 7, 2, 10};
  std::vector<double> a(11), b(11);
  model.last_logits(a.data(), inputs.data(), 1, 3);  // the logits after 1 4 7
  inputs[3] = 9;
  inputs[4] = 0;
  model.last_logits(b.data(), inputs.data(), 1, 3);
  for (size_t v = 0; v < 11; ++v) CHECK(a[v] == b[v]);
  // forward() agrees with the loss of those logits.
  const std::vector<uint32_t> targets = {kIgnore, kIgnore, 2};
  double m = a[0], s = 0;
  for (double x : a) m = std::max(m, x);
  for (double x : a) s += std::exp(x - m);
  CHECK(model.forward(inputs.data(), targets.data(), 1, 3) == doctest::Approx(m + std::log(s) - a[2]));
}
