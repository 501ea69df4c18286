#pragma once
// The training curve as a standalone SVG that any browser shows: training and validation loss against
// tokens seen (log-scaled x axis), the learning rate on a second y axis at the right. The plot group
// carries its axis ranges as data-* attributes, so a test (or a script) can map points back to values.
#include <cstdint>
#include <string>
#include <vector>

namespace lmpipe::train {

struct CurvePoint {
  uint64_t tokens = 0;  // tokens seen (x)
  double value = 0;
};

struct LossCurves {
  std::vector<CurvePoint> train, val, lr;
  std::string title;
};

// The SVG document. Points with 0 tokens are left out (the x axis is logarithmic).
std::string render_loss_svg(const LossCurves& curves);

}  // namespace lmpipe::train
