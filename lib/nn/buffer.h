#pragma once
// The model's big buffers (parameters, gradients, activations): std::vector with cache-line alignment,
// which buffers a model allocates, and the plan that places its activations in one buffer.
// Eigen's vectorised reductions peel scalars until an aligned packet, so the summation order of a
// bias gradient or a layer norm depends on the buffer's address modulo 64. With malloc's 16-byte
// alignment a resumed run (different heap) differed from an uninterrupted one in the last bits;
// 64-byte alignment makes results depend on the data alone.
#include <cstddef>
#include <new>
#include <vector>

namespace lmpipe::nn {

template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, kAlignment); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const noexcept { return true; }
};

template <class T>
using Buffer = std::vector<T, CacheAlignedAllocator<T>>;

// Which of a model's big buffers its constructor allocates.
enum class ModelBuffers {
  kTraining,   // parameters and gradients
  kInference,  // parameters only (generation, evaluation)
  kLayout,     // neither: the tensor layout, for reading a checkpoint, or params() assigned a loaded buffer
};

// Places arrays one after another in one buffer, as a model plans its activations for a batch shape:
// take(n) is the offset of the next n elements, total() the size of the buffer to allocate.
class BufferPlan {
 public:
  size_t take(size_t n) {
    const size_t at = total_;
    total_ += n;
    return at;
  }
  size_t total() const { return total_; }

 private:
  size_t total_ = 0;
};

}  // namespace lmpipe::nn
