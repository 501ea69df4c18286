#pragma once
// A one-line progress display with rate and ETA on stderr, redrawn at most ten times a second. It is
// drawn only when enabled (see CommonOptions::show_progress); a disabled Progress costs a branch.
#include <chrono>
#include <cstdint>
#include <string>

namespace lmpipe {

class Progress {
 public:
  enum class Unit { kBytes, kItems };
  // total 0 = unknown: no percentage or ETA.
  Progress(bool enabled, std::string label, uint64_t total, Unit unit);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(uint64_t done) {
    done_ = done;
    if (enabled_ && ++calls_since_check_ >= 64) maybe_draw();
  }
  void add(uint64_t delta) { update(done_ + delta); }
  void finish();  // draws the final state and ends the line

 private:
  void maybe_draw();
  void draw();

  bool enabled_;
  std::string label_;
  uint64_t total_;
  Unit unit_;
  uint64_t done_ = 0;
  unsigned calls_since_check_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace lmpipe
