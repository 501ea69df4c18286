#include "train/seq_len_schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::train {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

size_t parse_length(std::string_view s, const std::string& spec) {
  size_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value == 0)
    throw UsageError(fmt::format("--seq-len-schedule {}: \"{}\" is not a positive length", spec, s));
  return value;
}

double parse_fraction(std::string_view s, const std::string& spec) {
  const std::string text(s);
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !(value > 0) || value > 1)
    throw UsageError(fmt::format("--seq-len-schedule {}: \"{}\" is not a fraction of the steps in (0, 1]", spec, s));
  return value;
}

}  // namespace

SeqLenSchedule SeqLenSchedule::parse(const std::string& spec) {
  SeqLenSchedule s;
  s.spec_ = spec;
  if (spec.empty()) return s;
  const std::string_view text(spec);
  if (text.starts_with("alt:")) {
    s.alternate_ = true;
    for (std::string_view part : split(text.substr(4), ',')) s.lengths_.push_back(parse_length(part, spec));
    return s;
  }
  double sum = 0;
  for (std::string_view part : split(text, ',')) {
    const size_t colon = part.find(':');
    if (colon == std::string_view::npos)
      throw UsageError(fmt::format("--seq-len-schedule {}: write phases as LENGTH:FRACTION (128:0.9,512:0.1) or "
                                   "alternation as alt:LENGTH,LENGTH",
                                   spec));
    s.lengths_.push_back(parse_length(part.substr(0, colon), spec));
    s.fractions_.push_back(parse_fraction(part.substr(colon + 1), spec));
    sum += s.fractions_.back();
  }
  if (std::abs(sum - 1.0) > 1e-6)
    throw UsageError(fmt::format("--seq-len-schedule {}: the fractions add up to {}, not 1", spec, sum));
  return s;
}

size_t SeqLenSchedule::length_at(uint64_t step, uint64_t total) const {
  if (lengths_.empty()) return 0;
  if (alternate_) return lengths_[step % lengths_.size()];
  double cumulative = 0;
  for (size_t i = 0; i + 1 < lengths_.size(); ++i) {
    cumulative += fractions_[i];
    if (double(step) < std::round(cumulative * double(total))) return lengths_[i];
  }
  return lengths_.back();
}

std::vector<size_t> SeqLenSchedule::lengths() const {
  std::vector<size_t> distinct = lengths_;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  return distinct;
}

}  // namespace lmpipe::train
