#pragma once
// Which sequence length each optimizer step trains at: one length for the whole run, phases
// ("128:0.9,512:0.1": the first 90% of the steps at 128, the rest at 512, BERT's published recipe) or
// alternation ("alt:128,512": step s at the (s mod 2)-th length). Every batch has one length.
#include <cstdint>
#include <string>
#include <vector>

namespace lmpipe::train {

class SeqLenSchedule {
 public:
  SeqLenSchedule() = default;
  // "" is no schedule. Throws UsageError naming what is wrong with spec.
  static SeqLenSchedule parse(const std::string& spec);

  bool empty() const { return lengths_.empty(); }
  // The length of step `step` (0-based) of a run of `total` steps. Phase i ends at round(total times the
  // fractions up to i), the last phase at total.
  size_t length_at(uint64_t step, uint64_t total) const;
  // The distinct lengths, ascending.
  std::vector<size_t> lengths() const;
  const std::string& spec() const { return spec_; }

 private:
  std::string spec_;
  bool alternate_ = false;
  std::vector<size_t> lengths_;
  std::vector<double> fractions_;  // phases only
};

}  // namespace lmpipe::train
