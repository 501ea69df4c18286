#include "train/loss_plot.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace lmpipe::train {
namespace {

constexpr double kWidth = 800, kHeight = 480;
constexpr double kLeft = 70, kRight = 70, kTop = 40, kBottom = 50;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// A round tick spacing near span / 5: 1, 2 or 5 times a power of ten.
double nice_step(double span) {
  const double raw = span / 5;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double m = raw / power;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * power;
}

// 1, 10, 100, 1k, ..., 1M, 1G: a power of ten of tokens as people say it.
std::string power_label(int k) {
  static const char* const kSuffix[] = {"", "k", "M", "G", "T"};
  if (k < 0) return fmt::format("1e{}", k);
  const int group = std::min(k / 3, 4);
  return fmt::format("{}{}", static_cast<long long>(std::pow(10.0, k - 3 * group)), kSuffix[group]);
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

}  // namespace

std::string render_loss_svg(const LossCurves& curves) {
  // Ranges over what will be drawn.
  uint64_t t_min = UINT64_MAX, t_max = 0;
  double loss_min = INFINITY, loss_max = -INFINITY, lr_max = 0;
  for (const auto* series : {&curves.train, &curves.val, &curves.lr}) {
    for (const CurvePoint& p : *series) {
      if (p.tokens == 0 || !std::isfinite(p.value)) continue;
      t_min = std::min(t_min, p.tokens);
      t_max = std::max(t_max, p.tokens);
      if (series == &curves.lr) {
        lr_max = std::max(lr_max, p.value);
      } else {
        loss_min = std::min(loss_min, p.value);
        loss_max = std::max(loss_max, p.value);
      }
    }
  }
  if (t_max == 0) t_min = t_max = 1;
  if (!std::isfinite(loss_min)) loss_min = loss_max = 1;
  double lx0 = std::floor(std::log10(double(t_min))), lx1 = std::ceil(std::log10(double(t_max)));
  if (lx1 <= lx0) lx1 = lx0 + 1;
  if (loss_max - loss_min < 1e-9) {
    loss_min -= 0.5;
    loss_max += 0.5;
  }
  const double loss_step = nice_step(loss_max - loss_min);
  const double y0 = std::floor(loss_min / loss_step) * loss_step, y1 = std::ceil(loss_max / loss_step) * loss_step;
  const double lr_top = lr_max > 0 ? lr_max * 1.05 : 1.0;

  const auto x_of = [&](uint64_t tokens) { return kLeft + (std::log10(double(tokens)) - lx0) / (lx1 - lx0) * kPlotW; };
  const auto y_of_loss = [&](double v) { return kTop + (1 - (v - y0) / (y1 - y0)) * kPlotH; };
  const auto y_of_lr = [&](double v) { return kTop + (1 - v / lr_top) * kPlotH; };

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" font-size=\"15\">{3}</text>\n",
      kWidth, kHeight, kLeft, escape(curves.title));
  // data-*: the mapping from values to coordinates, for scripts and tests.
  svg += fmt::format(
      "<g id=\"plot\" data-left=\"{}\" data-top=\"{}\" data-width=\"{}\" data-height=\"{}\" data-x-log10-min=\"{}\" "
      "data-x-log10-max=\"{}\" data-loss-min=\"{}\" data-loss-max=\"{}\" data-lr-max=\"{}\">\n",
      kLeft, kTop, kPlotW, kPlotH, lx0, lx1, y0, y1, lr_top);
  // Grid and tick labels: powers of ten (with lighter 2..9 lines) along x, round losses along y.
  for (int k = int(lx0); k <= int(lx1); ++k) {
    const double x = kLeft + (k - lx0) / (lx1 - lx0) * kPlotW;
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#ccc\"/>\n", x, kTop, kTop + kPlotH);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x, kTop + kPlotH + 16, power_label(k));
    for (int m = 2; m <= 9 && k < int(lx1); ++m) {
      const double xm = kLeft + (k + std::log10(double(m)) - lx0) / (lx1 - lx0) * kPlotW;
      svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1}\" x2=\"{0:.2f}\" y2=\"{2}\" stroke=\"#eee\"/>\n", xm, kTop, kTop + kPlotH);
    }
  }
  for (double v = y0; v <= y1 + loss_step / 2; v += loss_step) {
    const double y = y_of_loss(v);
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.2f}\" x2=\"{2}\" y2=\"{1:.2f}\" stroke=\"#ccc\"/>\n", kLeft, y, kLeft + kPlotW);
    svg += fmt::format("<text x=\"{}\" y=\"{:.2f}\" text-anchor=\"end\">{:g}</text>\n", kLeft - 6, y + 4, v);
  }
  for (int i = 0; i <= 4; ++i) {
    const double v = lr_top * i / 4;
    svg += fmt::format("<text x=\"{}\" y=\"{:.2f}\" fill=\"#2ca02c\">{:.2g}</text>\n", kLeft + kPlotW + 6, y_of_lr(v) + 4, v);
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft, kTop,
                     kPlotW, kPlotH);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">tokens seen</text>\n", kLeft + kPlotW / 2, kHeight - 10);
  svg += fmt::format("<text transform=\"translate(18 {}) rotate(-90)\" text-anchor=\"middle\">loss</text>\n", kTop + kPlotH / 2);
  svg += fmt::format("<text transform=\"translate({} {}) rotate(90)\" text-anchor=\"middle\" fill=\"#2ca02c\">learning rate</text>\n",
                     kWidth - 12, kTop + kPlotH / 2);

  const auto polyline = [&](const char* cls, const std::vector<CurvePoint>& series, const char* style, auto y_of) {
    std::string points;
    for (const CurvePoint& p : series) {
      if (p.tokens == 0 || !std::isfinite(p.value)) continue;
      points += fmt::format("{}{:.2f},{:.2f}", points.empty() ? "" : " ", x_of(p.tokens), y_of(p.value));
    }
    svg += fmt::format("<polyline class=\"{}\" fill=\"none\" {} points=\"{}\"/>\n", cls, style, points);
  };
  polyline("lr", curves.lr, "stroke=\"#2ca02c\" stroke-width=\"1\" stroke-dasharray=\"4 3\"", y_of_lr);
  polyline("train", curves.train, "stroke=\"#1f77b4\" stroke-width=\"1.2\"", y_of_loss);
  polyline("val", curves.val, "stroke=\"#d62728\" stroke-width=\"2\"", y_of_loss);
  for (const CurvePoint& p : curves.val)
    if (p.tokens != 0 && std::isfinite(p.value))
      svg += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"3\" fill=\"#d62728\"><title>{} tokens: val loss {:.4f}</title></circle>\n",
                         x_of(p.tokens), y_of_loss(p.value), p.tokens, p.value);
  svg += "</g>\n";
  // Legend.
  const double lx = kLeft + kPlotW - 150, ly = kTop + 14;
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"{3}\" y=\"{4}\">training loss</text>\n",
                     lx, ly, lx + 20, lx + 26, ly + 4);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"{3}\" y=\"{4}\">validation loss</text>\n",
                     lx, ly + 16, lx + 20, lx + 26, ly + 20);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#2ca02c\" stroke-dasharray=\"4 3\"/><text x=\"{3}\" y=\"{4}\">learning rate</text>\n",
                     lx, ly + 32, lx + 20, lx + 26, ly + 36);
  svg += "</svg>\n";
  return svg;
}

}  // namespace lmpipe::train
