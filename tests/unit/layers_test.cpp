// Every layer's backward against central finite differences in double precision, and float forward
// against double.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "nn/layers.h"
#include "nn/runtime.h"

using namespace lmpipe::nn;

namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (double& x : v) x = d(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Checks analytic (the gradient of loss() with respect to x) by central differences at every element.
void check_gradient(Vec& x, const Vec& analytic, const std::function<double()>& loss, const char* what) {
  CAPTURE(what);
  REQUIRE(x.size() == analytic.size());
  const double eps = 1e-6;
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + eps;
    const double up = loss();
    x[i] = keep - eps;
    const double down = loss();
    x[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    const double error = std::abs(numeric - analytic[i]) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, error);
  }
  CHECK(worst < 1e-6);
}

}  // namespace

TEST_CASE("layer norm backward") {
  std::mt19937 rng(1);
  const size_t N = 5, C = 8;
  Vec inp = random_vec(N * C, rng), w = random_vec(C, rng), b = random_vec(C, rng), dout = random_vec(N * C, rng);
  Vec out(N * C), mean(N), rstd(N);
  const auto loss = [&] {
    layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5);
    return dot(out, dout);
  };
  loss();
  Vec dinp(N * C), dw(C, 0.0), db(C, 0.0);
  layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(), rstd.data(), N, C);
  check_gradient(inp, dinp, loss, "input");
  check_gradient(w, dw, loss, "weight");
  check_gradient(b, db, loss, "bias");
}

TEST_CASE("layer norm backward adds the threads' parameter gradients in one order, into gradients already held") {
  // Two threads each sum half of the rows; the halves must be added to the gradients already there
  // (an earlier micro-batch's) first half first, whichever thread finishes first, or accumulated steps
  // differ from run to run in the last bits.
  std::mt19937 rng(2);
  const size_t N = 64, C = 96;
  const auto random_floats = [&](size_t n) {
    const Vec v = random_vec(n, rng);
    return std::vector<float>(v.begin(), v.end());
  };
  const std::vector<float> inp = random_floats(N * C), w = random_floats(C), b = random_floats(C),
                           dout = random_floats(N * C), held = random_floats(C);
  std::vector<float> out(N * C), mean(N), rstd(N), dinp(N * C);
  layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5f);
  // Each half's sums alone, on one thread: what each of two threads computes (a static schedule's halves).
  const int threads_before = compute_threads();
  set_compute_threads(1);
  std::vector<float> halves_w[2], halves_b[2];
  for (size_t h = 0; h < 2; ++h) {
    halves_w[h].assign(C, 0.0f);
    halves_b[h].assign(C, 0.0f);
    const size_t first = h * N / 2;
    layernorm_backward(dinp.data(), halves_w[h].data(), halves_b[h].data(), dout.data() + first * C, inp.data() + first * C,
                       w.data(), mean.data() + first, rstd.data() + first, N / 2, C);
  }
  std::vector<float> want_w = held, want_b = held;
  for (size_t c = 0; c < C; ++c) {
    want_w[c] = (held[c] + halves_w[0][c]) + halves_w[1][c];
    want_b[c] = (held[c] + halves_b[0][c]) + halves_b[1][c];
  }
  set_compute_threads(2);
  for (int run = 0; run < 40; ++run) {
    std::vector<float> dw = held, db = held;
    layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(), rstd.data(), N, C);
    CAPTURE(run);
    REQUIRE(dw == want_w);
    REQUIRE(db == want_b);
  }
  set_compute_threads(threads_before);
}

TEST_CASE("linear backward, and parameter gradients accumulate") {
  std::mt19937 rng(2);
  const size_t N = 6, C = 5, OC = 7;
  Vec inp = random_vec(N * C, rng), w = random_vec(C * OC, rng), b = random_vec(OC, rng), dout = random_vec(N * OC, rng);
  Vec out(N * OC);
  const auto loss = [&] {
    linear_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
    return dot(out, dout);
  };
  loss();
  Vec dinp(N * C), dw(C * OC, 0.0), db(OC, 0.0);
  linear_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  check_gradient(inp, dinp, loss, "input");
  check_gradient(w, dw, loss, "weight");
  check_gradient(b, db, loss, "bias");
  const Vec once = dw;
  linear_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  for (size_t i = 0; i < dw.size(); ++i) CHECK(dw[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("GELU backward, both forms") {
  std::mt19937 rng(3);
  for (Gelu kind : {Gelu::kTanh, Gelu::kErf}) {
    Vec inp = random_vec(40, rng, 2.0), dout = random_vec(40, rng), out(40), dinp(40);
    const auto loss = [&] {
      gelu_forward(out.data(), inp.data(), inp.size(), kind);
      return dot(out, dout);
    };
    gelu_forward(out.data(), inp.data(), inp.size(), kind);
    gelu_backward(dinp.data(), dout.data(), inp.data(), out.data(), inp.size(), kind);
    check_gradient(inp, dinp, loss, kind == Gelu::kTanh ? "tanh" : "erf");
  }
  // In float, against the closed forms in double: the backward reads tanh (or Phi) back from the forward's
  // output as out / x, so x = 0, tiny and large |x| are the cases to watch.
  std::vector<float> xs = {0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 1e-3f, -1e-3f, 20.0f, -20.0f, -9.0f};
  for (int i = -400; i <= 400; ++i) xs.push_back(float(i) / 40.0f);
  const std::vector<float> ones(xs.size(), 1.0f);
  std::vector<float> ys(xs.size()), ds(xs.size());
  for (Gelu kind : {Gelu::kTanh, Gelu::kErf}) {
    gelu_forward(ys.data(), xs.data(), xs.size(), kind);
    gelu_backward(ds.data(), ones.data(), xs.data(), ys.data(), xs.size(), kind);
    double worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i];
      double exact;
      if (kind == Gelu::kTanh) {
        const double k = 0.7978845608028654, th = std::tanh(k * (x + 0.044715 * x * x * x));
        exact = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * k * (1 + 3 * 0.044715 * x * x);
      } else {
        exact = 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
      }
      worst = std::max(worst, std::abs(double(ds[i]) - exact));
    }
    CAPTURE(int(kind));
    // The derivative is between -0.17 and 1.13. Near |x| = 5, 1 - tanh^2 is a difference of nearly equal
    // floats: computing tanh again, as this did before, was 3.4e-6 off there; out / x is 3.8e-6 off.
    CHECK(worst < 1e-5);
  }
  double y;
  const double x = 1.0;
  gelu_forward(&y, &x, 1, Gelu::kErf);
  CHECK(y == doctest::Approx(0.8413447460685429));  // x * Phi(x)
}

TEST_CASE("attention backward: causal, and bidirectional with padding") {
  std::mt19937 rng(4);
  const size_t B = 2, Tn = 5, C = 8, NH = 2;
  const std::vector<uint8_t> mask = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
  for (bool causal : {true, false}) {
    const uint8_t* key_mask = causal ? nullptr : mask.data();
    Vec qkv = random_vec(B * Tn * 3 * C, rng), dout = random_vec(B * Tn * C, rng), out(B * Tn * C), lse(B * NH * Tn);
    const auto loss = [&] {
      attention_forward(out.data(), lse.data(), qkv.data(), AttentionMask{causal, key_mask}, B, Tn, C, NH);
      return dot(out, dout);
    };
    loss();
    Vec dqkv(qkv.size());
    attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), AttentionMask{causal, key_mask}, B, Tn, C,
                       NH);
    check_gradient(qkv, dqkv, loss, causal ? "causal" : "padded");
  }
}

TEST_CASE("causal attention in row blocks: longer than a block, ragged last block, with and without dropout") {
  // 70 positions: blocks of rows [0, 32), [32, 64) and [64, 70), each product against the keys its rows see.
  std::mt19937 rng(8);
  const size_t B = 2, Tn = 70, C = 8, NH = 2;
  for (double dropout : {0.0, 0.25}) {
    Vec qkv = random_vec(B * Tn * 3 * C, rng), dout = random_vec(B * Tn * C, rng), out(B * Tn * C), lse(B * NH * Tn);
    const auto loss = [&] {
      attention_forward(out.data(), lse.data(), qkv.data(), AttentionMask{true}, B, Tn, C, NH, dropout, 99);
      return dot(out, dout);
    };
    loss();
    // The forward against a plain softmax over each row's visible keys (no dropout).
    if (dropout == 0.0) {
      const size_t hs = C / NH;
      double worst = 0;
      for (size_t b = 0; b < B; ++b)
        for (size_t h = 0; h < NH; ++h)
          for (size_t t = 0; t < Tn; ++t) {
            std::vector<double> w(t + 1);
            double m = -1e300, sum = 0;
            for (size_t j = 0; j <= t; ++j) {
              double s = 0;
              for (size_t c = 0; c < hs; ++c) s += qkv[(b * Tn + t) * 3 * C + h * hs + c] * qkv[(b * Tn + j) * 3 * C + C + h * hs + c];
              w[j] = s / std::sqrt(double(hs));
              m = std::max(m, w[j]);
            }
            for (double& x : w) sum += (x = std::exp(x - m));
            for (size_t c = 0; c < hs; ++c) {
              double o = 0;
              for (size_t j = 0; j <= t; ++j) o += w[j] / sum * qkv[(b * Tn + j) * 3 * C + 2 * C + h * hs + c];
              worst = std::max(worst, std::abs(o - out[(b * Tn + t) * C + h * hs + c]));
            }
          }
      CHECK(worst < 1e-12);
    }
    Vec dqkv(qkv.size());
    attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), AttentionMask{true}, B, Tn, C, NH,
                       dropout, 99);
    check_gradient(qkv, dqkv, loss, dropout > 0 ? "blocks, dropout" : "blocks");
  }
}

TEST_CASE("packed sequences attend within themselves, from position 0, over several row blocks") {
  // One row of 75 positions holding sequences of 40, 30 and 5 (the first crosses a 32-row block, the
  // second starts inside one): each must come out as it does alone, and the gradient must be right.
  std::mt19937 rng(9);
  const size_t Tn = 75, C = 8, NH = 2;
  const std::vector<size_t> lens = {40, 30, 5};
  std::vector<uint32_t> positions;
  for (size_t len : lens)
    for (size_t t = 0; t < len; ++t) positions.push_back(uint32_t(t));
  const AttentionMask packed{true, nullptr, positions.data()};
  Vec qkv = random_vec(Tn * 3 * C, rng), dout = random_vec(Tn * C, rng), out(Tn * C), lse(NH * Tn);
  attention_forward(out.data(), lse.data(), qkv.data(), packed, 1, Tn, C, NH);
  size_t start = 0;
  for (size_t len : lens) {
    const Vec alone_qkv(qkv.begin() + long(start * 3 * C), qkv.begin() + long((start + len) * 3 * C));
    Vec alone(len * C), alone_lse(NH * len);
    attention_forward(alone.data(), alone_lse.data(), alone_qkv.data(), AttentionMask{true}, 1, len, C, NH);
    double worst = 0;
    for (size_t i = 0; i < len * C; ++i) worst = std::max(worst, std::abs(alone[i] - out[start * C + i]));
    for (size_t h = 0; h < NH; ++h)
      for (size_t t = 0; t < len; ++t) worst = std::max(worst, std::abs(alone_lse[h * len + t] - lse[h * Tn + start + t]));
    CHECK(worst < 1e-12);
    start += len;
  }
  for (double dropout : {0.0, 0.25}) {
    const auto loss = [&] {
      attention_forward(out.data(), lse.data(), qkv.data(), packed, 1, Tn, C, NH, dropout, 7);
      return dot(out, dout);
    };
    loss();
    Vec dqkv(qkv.size());
    attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), packed, 1, Tn, C, NH, dropout, 7);
    check_gradient(qkv, dqkv, loss, dropout > 0 ? "packed, dropout" : "packed");
  }
}

TEST_CASE("encoder attention longer than one block of scores") {
  // 600 positions: rows in blocks of 436 (2^18 scores / 600), the last ragged, with padding keys.
  std::mt19937 rng(10);
  const size_t B = 1, Tn = 600, C = 4, NH = 1;
  std::vector<uint8_t> key_mask(Tn, 1);
  for (size_t j = 550; j < Tn; ++j) key_mask[j] = 0;
  Vec qkv = random_vec(B * Tn * 3 * C, rng), dout = random_vec(B * Tn * C, rng), out(B * Tn * C), lse(B * NH * Tn);
  const AttentionMask mask{false, key_mask.data()};
  attention_forward(out.data(), lse.data(), qkv.data(), mask, B, Tn, C, NH);
  // Row 599 against a plain softmax over the 550 unpadded keys.
  std::vector<double> w(550);
  double m = -1e300, sum = 0;
  for (size_t j = 0; j < 550; ++j) {
    double s = 0;
    for (size_t c = 0; c < C; ++c) s += qkv[599 * 3 * C + c] * qkv[j * 3 * C + C + c];
    m = std::max(m, w[j] = s / 2.0);
  }
  for (double& x : w) sum += (x = std::exp(x - m));
  for (size_t c = 0; c < C; ++c) {
    double o = 0;
    for (size_t j = 0; j < 550; ++j) o += w[j] / sum * qkv[j * 3 * C + 2 * C + c];
    CHECK(std::abs(o - out[599 * C + c]) < 1e-12);
  }
  Vec dqkv(qkv.size());
  attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), mask, B, Tn, C, NH);
  // A few coordinates by finite differences (the whole check would take 7200 forwards).
  for (size_t i : {size_t(5), size_t(300 * 3 * C + C + 1), size_t(560 * 3 * C + 2 * C + 3), size_t(599 * 3 * C)}) {
    const double h = 1e-6, saved = qkv[i];
    qkv[i] = saved + h;
    attention_forward(out.data(), lse.data(), qkv.data(), mask, B, Tn, C, NH);
    const double up = dot(out, dout);
    qkv[i] = saved - h;
    attention_forward(out.data(), lse.data(), qkv.data(), mask, B, Tn, C, NH);
    const double down = dot(out, dout);
    qkv[i] = saved;
    CHECK(dqkv[i] == doctest::Approx((up - down) / (2 * h)).epsilon(1e-6));
  }
}

TEST_CASE("causal attention does not look ahead") {
  std::mt19937 rng(5);
  const size_t B = 1, Tn = 6, C = 4, NH = 1;
  Vec qkv = random_vec(B * Tn * 3 * C, rng), out(B * Tn * C), lse(Tn), out2(B * Tn * C);
  attention_forward(out.data(), lse.data(), qkv.data(), AttentionMask{true}, B, Tn, C, NH);
  for (size_t c = 0; c < 3 * C; ++c) qkv[(Tn - 1) * 3 * C + c] += 1.0;  // change only the last position
  attention_forward(out2.data(), lse.data(), qkv.data(), AttentionMask{true}, B, Tn, C, NH);
  // Earlier outputs are unchanged (to rounding: the BLAS product may sum in another order).
  for (size_t i = 0; i < (Tn - 1) * C; ++i) CHECK(std::abs(out[i] - out2[i]) < 1e-12);
  // The first position attends only to itself: its output is its value.
  for (size_t c = 0; c < C; ++c) CHECK(out[c] == doctest::Approx(qkv[2 * C + c]));
}

TEST_CASE("the fused LM head: loss, and gradients by finite differences") {
  std::mt19937 rng(6);
  const size_t N = 7, C = 6, V = 11;
  Vec x = random_vec(N * C, rng), wte = random_vec(V * C, rng), losses(N);
  std::vector<uint32_t> targets = {3, 0, kIgnore, 10, 5, 5, 1};
  const double scale = 1.0 / 6;  // the mean over the 6 counted rows
  size_t counted = 0;
  const auto loss = [&] {
    return lm_head_loss<double>(nullptr, nullptr, losses.data(), x.data(), wte.data(), targets.data(), N, C, V, scale,
                                &counted, 3) * scale;
  };
  const double total = loss();
  CHECK(counted == 6);
  CHECK(losses[2] == 0.0);
  // Row 0 by hand: log-sum-exp of the logits minus the target's logit.
  double m = -1e300, s = 0, logit_t = 0;
  for (size_t v = 0; v < V; ++v) {
    double l = 0;
    for (size_t c = 0; c < C; ++c) l += x[c] * wte[v * C + c];
    if (v == 3) logit_t = l;
    m = std::max(m, l);
  }
  for (size_t v = 0; v < V; ++v) {
    double l = 0;
    for (size_t c = 0; c < C; ++c) l += x[c] * wte[v * C + c];
    s += std::exp(l - m);
  }
  CHECK(losses[0] == doctest::Approx(m + std::log(s) - logit_t));
  Vec dx(N * C), dwte(V * C, 0.0);
  const double total2 =
      lm_head_loss<double>(dx.data(), dwte.data(), losses.data(), x.data(), wte.data(), targets.data(), N, C, V, scale, &counted, 3) *
      scale;
  CHECK(total2 == doctest::Approx(total));
  check_gradient(x, dx, loss, "x");
  check_gradient(wte, dwte, loss, "wte");
}

TEST_CASE("the LM head at a temperature: the loss of logits / T, and its gradients by finite differences") {
  std::mt19937 rng(11);
  const size_t N = 4, C = 5, V = 7;
  const double temperature = 0.7, logit_scale = 1 / temperature;
  Vec x = random_vec(N * C, rng), wte = random_vec(V * C, rng), losses(N), scaled_losses(N);
  const std::vector<uint32_t> targets = {3, 0, kIgnore, 6};
  Vec scaled_wte(wte);
  for (double& w : scaled_wte) w *= logit_scale;
  size_t counted = 0;
  const auto loss = [&] {
    return lm_head_loss<double>(nullptr, nullptr, losses.data(), x.data(), wte.data(), targets.data(), N, C, V, 1.0,
                                &counted, 2, nullptr, nullptr, nullptr, nullptr, logit_scale);
  };
  // Dividing the logits by T is multiplying the embedding by 1 / T.
  const double total = loss();
  CHECK(total == doctest::Approx(lm_head_loss<double>(nullptr, nullptr, scaled_losses.data(), x.data(),
                                                      scaled_wte.data(), targets.data(), N, C, V, 1.0, &counted, 2)));
  for (size_t i = 0; i < N; ++i) CHECK(losses[i] == doctest::Approx(scaled_losses[i]));
  CHECK(total != doctest::Approx(lm_head_loss<double>(nullptr, nullptr, losses.data(), x.data(), wte.data(),
                                                      targets.data(), N, C, V, 1.0, &counted, 2)));
  // Per-row scales (DPO's and PPO's path) multiply with the temperature's.
  const Vec row_scale = {0.5, -2.0, 0.0, 1.5};
  const auto weighted = [&] {
    lm_head_loss<double>(nullptr, nullptr, losses.data(), x.data(), wte.data(), targets.data(), N, C, V, 1.0, &counted,
                         2, nullptr, nullptr, nullptr, nullptr, logit_scale);
    double sum = 0;
    for (size_t i = 0; i < N; ++i) sum += row_scale[i] * losses[i];
    return sum;
  };
  Vec dx(N * C), dwte(V * C, 0.0);
  lm_head_loss<double>(dx.data(), dwte.data(), losses.data(), x.data(), wte.data(), targets.data(), N, C, V, 0.0,
                       &counted, 2, nullptr, nullptr, nullptr, row_scale.data(), logit_scale);
  check_gradient(x, dx, weighted, "x");
  check_gradient(wte, dwte, weighted, "wte");
}

TEST_CASE("the LM head kept between its halves gives lm_head_loss's losses and gradients") {
  std::mt19937 rng(12);
  // More target rows than a chunk, rows without a target between them, and a temperature.
  const size_t N = 2 * kHeadRowsPerChunk + 37, C = 4, V = 9;
  const double logit_scale = 1 / 1.3;
  Vec x = random_vec(N * C, rng), wte = random_vec(V * C, rng), row_scale = random_vec(N, rng);
  std::vector<uint32_t> targets(N);
  for (size_t r = 0; r < N; ++r) targets[r] = r % 5 == 1 ? kIgnore : uint32_t(rng() % V);
  Vec losses(N, -1.0), dx(N * C, -1.0), dwte(V * C, 0.5);
  size_t counted = 0;
  lm_head_loss<double>(dx.data(), dwte.data(), losses.data(), x.data(), wte.data(), targets.data(), N, C, V, 0.0,
                       &counted, kHeadRowsPerChunk, nullptr, nullptr, nullptr, row_scale.data(), logit_scale);
  Buffer<double> probs;
  Vec kept_losses(N, -1.0), kept_dx(N * C, -1.0), kept_dwte(V * C, 0.5);
  CHECK(lm_head_keep<double>(probs, kept_losses.data(), x.data(), wte.data(), targets.data(), N, C, V, logit_scale) ==
        counted);
  lm_head_kept_backward<double>(kept_dx.data(), kept_dwte.data(), probs, x.data(), wte.data(), targets.data(),
                                row_scale.data(), N, C, V, logit_scale);
  for (size_t r = 0; r < N; ++r) CHECK(kept_losses[r] == doctest::Approx(losses[r]).epsilon(1e-12));
  CHECK(losses[1] == 0.0);
  for (size_t i = 0; i < N * C; ++i) CHECK(kept_dx[i] == doctest::Approx(dx[i]).epsilon(1e-12));
  for (size_t c = 0; c < C; ++c) CHECK(dx[C + c] == 0.0);  // row 1 has no target
  for (size_t i = 0; i < V * C; ++i) CHECK(kept_dwte[i] == doctest::Approx(dwte[i]).epsilon(1e-12));
}

TEST_CASE("embedding backward adds rows, repeated tokens included") {
  const size_t N = 4, Tn = 2, C = 3;
  const std::vector<uint32_t> tokens = {1, 1, 0, 1};
  Vec dwte(2 * C, 0.0), dwpe(Tn * C, 0.0), dout(N * C, 1.0);
  embedding_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), N, Tn, C);
  CHECK(dwte[C] == 3.0);
  CHECK(dwte[0] == 1.0);
  CHECK(dwpe[0] == 2.0);
}

TEST_CASE("float agrees with double") {
  std::mt19937 rng(7);
  const size_t B = 2, Tn = 16, C = 32, NH = 4;
  Vec qkv = random_vec(B * Tn * 3 * C, rng), out(B * Tn * C), lse(B * NH * Tn);
  std::vector<float> qkvf(qkv.begin(), qkv.end()), outf(out.size()), lsef(lse.size());
  attention_forward(out.data(), lse.data(), qkv.data(), AttentionMask{true}, B, Tn, C, NH);
  attention_forward(outf.data(), lsef.data(), qkvf.data(), AttentionMask{true}, B, Tn, C, NH);
  for (size_t i = 0; i < out.size(); ++i) CHECK(outf[i] == doctest::Approx(out[i]).epsilon(1e-4));
}
