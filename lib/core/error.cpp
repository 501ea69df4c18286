#include "core/error.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace lmpipe {

void fail_at(std::string_view where, uint64_t offset, std::string_view what) {
  throw Error(fmt::format("{}:{}: {}", where, offset, what));
}

void fail_errno(std::string_view what) {
  const int saved = errno;
  throw Error(fmt::format("{}: {}", what, std::strerror(saved)));
}

}  // namespace lmpipe
