#pragma once
// Seeded random numbers that are the same on any machine and any thread count: xoshiro256** seeded
// through SplitMix64. Streams are split by key, not by order of use: Rng(seed, {pass, record}) gives a
// record its own generator, so work can be divided among threads without changing a single draw.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>

namespace lmpipe {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  // The generator for seed and the given stream keys (e.g. {pass, record index}).
  explicit Rng(uint64_t seed, std::initializer_list<uint64_t> keys = {}) {
    uint64_t state = seed;
    for (uint64_t key : keys) {
      state = splitmix64(state) ^ key;
    }
    for (uint64_t& word : s_) word = splitmix64(state);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1), 53 bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n), unbiased (Lemire's multiply-and-reject); n > 0.
  uint64_t below(uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    u128 m = u128(next()) * n;
    auto low = uint64_t(m);
    if (low < n) {
      const uint64_t threshold = -n % n;
      while (low < threshold) {
        m = u128(next()) * n;
        low = uint64_t(m);
      }
    }
    return uint64_t(m >> 64);
  }
  // Uniform in [lo, hi], both included (Python's randint).
  int64_t between(int64_t lo, int64_t hi) { return lo + int64_t(below(uint64_t(hi - lo) + 1)); }
  bool chance(double p) { return uniform() < p; }
  // Standard normal (Box-Muller, one value per two uniforms): weight initialisation.
  double normal() {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Fisher-Yates.
  template <class T>
  void shuffle(std::span<T> items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace lmpipe
