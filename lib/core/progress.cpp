#include "core/progress.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace lmpipe {
namespace {

std::string human(double value, Progress::Unit unit) {
  const char* suffix[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (value >= 1000 && i < 4) {
    value /= 1000;
    ++i;
  }
  return fmt::format("{:.1f} {}{}", value, suffix[i], unit == Progress::Unit::kBytes ? "B" : "");
}

std::string clock(double seconds) {
  const auto s = uint64_t(seconds);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

Progress::Progress(bool enabled, std::string label, uint64_t total, Unit unit)
    : enabled_(enabled), label_(std::move(label)), total_(total), unit_(unit),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::maybe_draw() {
  calls_since_check_ = 0;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::draw() {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? double(done_) / elapsed : 0;
  std::string line = fmt::format("\r{}: {}", label_, human(double(done_), unit_));
  if (total_ > 0) {
    const double fraction = std::min(1.0, double(done_) / double(total_));
    const int width = 24, filled = int(fraction * width);
    line += fmt::format(" / {} [{}{}] {:3.0f}%", human(double(total_), unit_), std::string(filled, '#'),
                        std::string(width - filled, '.'), fraction * 100);
  }
  line += fmt::format("  {}/s", human(rate, unit_));
  if (total_ > 0 && rate > 0 && done_ < total_) line += "  ETA " + clock(double(total_ - done_) / rate);
  line += "\033[K";  // clear what a longer previous line left
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_) return;
  draw();
  std::fputc('\n', stderr);
  enabled_ = false;
}

}  // namespace lmpipe
