// loss.svg for curves of any length, including none and one point (the CLI test checks a real run's
// points against its log).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "train/loss_plot.h"

using namespace lmpipe::train;

TEST_CASE("loss plots of empty, single-point and flat curves are finite") {
  LossCurves none;
  LossCurves one;
  one.train = {{512, 5.5}};
  one.lr = {{512, 0.0}};
  LossCurves flat;
  flat.train = {{100, 2.0}, {1000, 2.0}, {0, 9.0}};  // the 0-token point cannot be drawn on a log axis
  flat.val = {{1000, 2.0}};
  flat.lr = {{100, 1e-3}, {1000, 1e-3}};
  flat.title = "a <title> & more";
  for (const LossCurves* c : {&none, &one, &flat}) {
    const std::string svg = render_loss_svg(*c);
    CHECK(svg.find("<svg") != std::string::npos);
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
    CHECK(svg.ends_with("</svg>\n"));
  }
  const std::string svg = render_loss_svg(flat);
  CHECK(svg.find("a &lt;title&gt; &amp; more") != std::string::npos);
  // Two train points drawn, the 0-token one left out.
  const size_t at = svg.find("class=\"train\"");
  REQUIRE(at != std::string::npos);
  const size_t points = svg.find("points=\"", at) + 8;
  const std::string list = svg.substr(points, svg.find('"', points) - points);
  CHECK(std::count(list.begin(), list.end(), ',') == 2);
}
