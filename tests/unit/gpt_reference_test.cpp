// The C++ GPT against PyTorch: tests/data/nn/*_tiny.safetensors hold a small model's weights, a batch,
// PyTorch's logits, loss, gradients and the losses of three AdamW steps
// (tests/reference/make_gpt_reference.py makes them; CI needs no PyTorch).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/safetensors.h"
#include "reference_file.h"
#include "nn/gpt.h"
#include "nn/layers.h"
#include "nn/optimizer.h"

using namespace lmpipe;
using namespace lmpipe::nn;
using lmpipe::io::SafeTensor;
using lmpipe::io::SafetensorsFile;


TEST_CASE("GPT-2 and GPT match PyTorch: logits, loss, gradients, three AdamW steps") {
  for (const char* arch : {"gpt2", "gpt1"}) {
    CAPTURE(arch);
    const SafetensorsFile ref(std::string(LMPIPE_TEST_DATA_DIR) + "/nn/" + arch + "_tiny.safetensors");
    GptConfig config;
    config.arch = std::string(arch) == "gpt2" ? GptArch::kGpt2 : GptArch::kGpt1;
    read_gpt_shape(ref, config);
    Gpt<float> model(config);
    for (const TensorInfo& t : model.layout().tensors()) {
      const SafeTensor* s = ref.find(t.name);
      REQUIRE_MESSAGE(s != nullptr, t.name);
      REQUIRE(s->shape == t.shape);
      ref.read_floats(*s, model.params().data() + t.offset);
    }
    const SafeTensor* ids = ref.find("input_ids");
    const std::vector<uint32_t> inputs = ref.read_ids(*ids), targets = ref.read_ids(*ref.find("targets"));
    const size_t B = ids->shape[0], Tn = ids->shape[1], V = config.vocab_size;

    model.zero_grad();
    const double loss = model.forward_backward(inputs.data(), targets.data(), B, Tn);
    const double want = floats(ref, "loss")[0];
    CHECK(std::abs(loss - want) / want < 1e-5);
    double worst = 0;
    for (const TensorInfo& t : model.layout().tensors()) {
      const std::vector<float> g = floats(ref, "grad." + t.name);
      REQUIRE(g.size() == t.size);
      worst = std::max(worst, worst_gradient_error(model.grads().data() + t.offset, g));
    }
    CHECK(worst < 1e-4);
    // The last position's logits.
    const std::vector<float> logits = floats(ref, "logits");
    std::vector<float> last(B * V);
    model.last_logits(last.data(), inputs.data(), B, Tn);
    for (size_t b = 0; b < B; ++b)
      for (size_t v = 0; v < V; ++v) CHECK(last[b * V + v] == doctest::Approx(logits[(b * Tn + Tn - 1) * V + v]).epsilon(1e-4));

    // Three AdamW steps as torch.optim.AdamW takes them.
    AdamWOptions o;
    o.beta1 = meta_double(ref, "beta1");
    o.beta2 = meta_double(ref, "beta2");
    o.eps = meta_double(ref, "eps");
    o.weight_decay = meta_double(ref, "weight_decay");
    AdamW adam(model.layout(), o);
    std::vector<double> losses;
    for (int step = 0; step < 3; ++step) {
      model.zero_grad();
      losses.push_back(model.forward_backward(inputs.data(), targets.data(), B, Tn));
      adam.step(model.params().data(), model.grads().data(), meta_double(ref, "lr"));
    }
    losses.push_back(model.forward(inputs.data(), targets.data(), B, Tn));
    std::vector<double> want_losses(4);
    ref.read_doubles(*ref.find("adamw_losses"), want_losses.data());
    for (size_t i = 0; i < 4; ++i) CHECK(std::abs(losses[i] - want_losses[i]) / want_losses[i] < 1e-5);
  }
}
