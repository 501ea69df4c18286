#pragma once
// Gradient checks by central differences, shared by the model tests.
#include <algorithm>
#include <cmath>
#include <vector>

struct GradientError {
  double worst = 0;  // max |numeric - analytic| / max(1, |numeric|)
  size_t at = 0;     // the parameter where it is
};

// Perturbs every element of params by +-eps, calls loss() (which must recompute with the current params), and
// compares the central difference with analytic[i].
template <class Params, class Loss>
GradientError check_gradients(Params& params, const std::vector<double>& analytic, Loss loss, double eps = 1e-6) {
  GradientError e;
  for (size_t i = 0; i < params.size(); ++i) {
    double& x = params[i];
    const double keep = x;
    x = keep + eps;
    const double up = loss();
    x = keep - eps;
    const double down = loss();
    x = keep;
    const double numeric = (up - down) / (2 * eps);
    const double error = std::abs(numeric - analytic[i]) / std::max(1.0, std::abs(numeric));
    if (error > e.worst) {
      e.worst = error;
      e.at = i;
    }
  }
  return e;
}

// The largest error of a gradient ours[n] against ref[n], each element's measured against its own size
// or rms_fraction of ref's RMS, whichever is larger (and at least min_floor): elements far below their
// tensor's scale are near-cancelling sums, whose absolute error the summation order sets by that scale.
inline double worst_scaled_error(const float* ours, const float* ref, size_t n, double rms_fraction,
                                 double min_floor) {
  double squares = 0;
  for (size_t i = 0; i < n; ++i) squares += double(ref[i]) * double(ref[i]);
  const double floor = std::max(min_floor, rms_fraction * std::sqrt(squares / double(std::max<size_t>(n, 1))));
  double worst = 0;
  for (size_t i = 0; i < n; ++i)
    worst = std::max(worst, std::abs(double(ours[i]) - ref[i]) / std::max(floor, std::abs(double(ref[i]))));
  return worst;
}
