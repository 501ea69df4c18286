// Data parallelism between threads (GptReplicas): shares of a batch on replicas give the loss and, once
// reduced, the gradients of the model alone on the whole batch.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "nn/layers.h"
#include "tiny_gpt.h"

using namespace lmpipe::nn;

namespace {

// Five sequences of 4; the ignored targets leave the shares unequal counts, so their losses need weights.
const std::vector<uint32_t> kInputs = {1, 4, 7, 2, 10, 3, 3, 0, 9, 5, 2, 2, 8, 1, 6, 4, 0, 0, 3, 7};
const std::vector<uint32_t> kTargets = {4, 7,       2,       kIgnore, 3, 3, 0, 9, 5, 2, 2, 8, 1, 6, 4, 0,
                                        0, kIgnore, kIgnore, kIgnore};
constexpr size_t kB = 5, kT = 4;

void check_same_grads(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  CHECK(worst < 1e-12);
}

}  // namespace

TEST_CASE("shares of a batch on threads give the loss and gradients of the whole batch") {
  for (size_t threads : {1, 2, 3, 8}) {  // 1: the model alone; 8: more threads than sequences
    CAPTURE(threads);
    Gpt<double> model(tiny_gpt());
    model.init(4);
    model.zero_grad();
    const double whole = model.forward_backward(kInputs.data(), kTargets.data(), kB, kT);
    const std::vector<double> want(model.grads().begin(), model.grads().end());
    const double whole_eval = model.forward(kInputs.data(), kTargets.data(), kB, kT);

    GptReplicas<double> replicas(model, threads);
    model.zero_grad();
    CHECK(replicas.forward_backward(kInputs.data(), kTargets.data(), kB, kT) == doctest::Approx(whole).epsilon(1e-12));
    const double squares = replicas.reduce_grads();
    check_same_grads({model.grads().begin(), model.grads().end()}, want);
    double want_squares = 0;
    for (double g : want) want_squares += g * g;
    CHECK(squares == doctest::Approx(want_squares).epsilon(1e-12));  // the squared gradient norm, same pass
    CHECK(replicas.forward(kInputs.data(), kTargets.data(), kB, kT) == doctest::Approx(whole_eval).epsilon(1e-12));
  }
}

TEST_CASE("accumulated micro-batches and later steps: the replicas start each step from zero") {
  Gpt<double> alone(tiny_gpt()), model(tiny_gpt());
  alone.init(6);
  model.init(6);
  GptReplicas<double> replicas(model, 2);
  const size_t half = 2 * kT;  // micro-batches of sequences 0-1 and 2-3
  for (int step = 0; step < 2; ++step) {
    CAPTURE(step);
    alone.zero_grad();
    model.zero_grad();
    double want = 0, got = 0;
    for (size_t m = 0; m < 2; ++m) {
      want += alone.forward_backward(kInputs.data() + m * half, kTargets.data() + m * half, 2, kT, 0.5) / 2;
      got += replicas.forward_backward(kInputs.data() + m * half, kTargets.data() + m * half, 2, kT, 0.5) / 2;
    }
    replicas.reduce_grads();
    CHECK(got == doctest::Approx(want).epsilon(1e-12));
    check_same_grads({model.grads().begin(), model.grads().end()}, {alone.grads().begin(), alone.grads().end()});
  }
}

TEST_CASE("a replica reads the model's parameters in place") {
  Gpt<double> model(tiny_gpt());
  model.init(8);
  GptReplicas<double> replicas(model, 2);
  const double before = replicas.forward(kInputs.data(), kTargets.data(), kB, kT);
  for (double& p : model.params()) p *= 1.5;  // every share must see the change, the replica's included
  const double after = replicas.forward(kInputs.data(), kTargets.data(), kB, kT);
  CHECK(after != doctest::Approx(before));
  CHECK(after == doctest::Approx(model.forward(kInputs.data(), kTargets.data(), kB, kT)).epsilon(1e-12));
  CHECK_THROWS(Gpt<double>::replica_of(model)->init(1));  // it has no parameters to initialise
}

TEST_CASE("dropout: one thread keeps the model's masks; several are repeatable") {
  Gpt<double> model(tiny_gpt(GptArch::kGpt2, 0.3f)), alone(tiny_gpt(GptArch::kGpt2, 0.3f));
  model.init(2);
  alone.init(2);
  alone.set_dropout_key(99);
  alone.zero_grad();
  const double want = alone.forward_backward(kInputs.data(), kTargets.data(), kB, kT);
  GptReplicas<double> one(model, 1);
  one.set_dropout_key(99);
  model.zero_grad();
  CHECK(one.forward_backward(kInputs.data(), kTargets.data(), kB, kT) == want);

  GptReplicas<double> two(model, 2);
  two.set_dropout_key(99);
  model.zero_grad();
  const double first = two.forward_backward(kInputs.data(), kTargets.data(), kB, kT);
  two.reduce_grads();
  const std::vector<double> grads(model.grads().begin(), model.grads().end());
  model.zero_grad();
  CHECK(two.forward_backward(kInputs.data(), kTargets.data(), kB, kT) == first);
  two.reduce_grads();
  CHECK(std::vector<double>(model.grads().begin(), model.grads().end()) == grads);
  CHECK(first != want);  // share 1 draws other masks than the model alone did for those sequences
}
