#pragma once
// A byte vector whose resize() leaves new bytes uninitialised: for buffers that are filled right after
// growing (read() targets, zstd outputs), where std::vector's zero-fill would be a wasted pass over
// megabytes per block.
#include <cstdint>
#include <memory>
#include <vector>

namespace lmpipe {

template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-initialisation: no zeroing
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using ByteBuffer = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

}  // namespace lmpipe
