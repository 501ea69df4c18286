#include "core/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe {
namespace {
constexpr size_t kReadBufferSize = 256 * 1024;
}

std::unique_ptr<InputStream> InputStream::open(const std::string& path) {
  std::unique_ptr<InputStream> in(new InputStream());
  if (path == "-") {
    in->name_ = "<stdin>";
    in->fd_ = STDIN_FILENO;
  } else {
    in->name_ = path;
    in->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in->fd_ < 0) fail_errno(fmt::format("cannot open {}", path));
    in->owns_fd_ = true;
  }
  struct stat st;
  if (::fstat(in->fd_, &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw Error(fmt::format("{}: is a directory", in->name_));
    if (S_ISREG(st.st_mode)) in->size_ = uint64_t(st.st_size);
  }
  in->buffer_.resize(kReadBufferSize);
  return in;
}

std::unique_ptr<InputStream> InputStream::from_memory(std::string name, std::span<const uint8_t> bytes) {
  std::unique_ptr<InputStream> in(new InputStream());
  in->name_ = std::move(name);
  in->mem_ = bytes;
  in->memory_ = true;
  in->size_ = bytes.size();
  return in;
}

std::string read_file(const std::string& path) {
  const auto in = InputStream::open(path);
  std::string text;
  if (in->size()) text.reserve(size_t(*in->size()));
  char buffer[1 << 16];
  while (const size_t n = in->read(buffer, sizeof buffer)) text.append(buffer, n);
  return text;
}

uint64_t total_input_bytes(const std::vector<std::string>& paths) {
  uint64_t total = 0;
  for (const std::string& path : paths) {
    struct stat st;
    if (path == "-" || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    total += uint64_t(st.st_size);
  }
  return total;
}

InputStream::~InputStream() {
  if (owns_fd_) ::close(fd_);
}

size_t InputStream::fill() {
  if (pos_ < end_) return end_ - pos_;
  pos_ = end_ = 0;
  for (;;) {
    const ssize_t got = ::read(fd_, buffer_.data(), buffer_.size());
    if (got >= 0) {
      end_ = size_t(got);
      return end_;
    }
    if (errno != EINTR) fail_errno(fmt::format("{}:{}: read failed", name_, offset_));
  }
}

size_t InputStream::read(void* dst, size_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  if (memory_) {
    done = std::min<uint64_t>(n, mem_.size() - offset_);
    if (done > 0) std::memcpy(out, mem_.data() + offset_, done);
    offset_ += done;
    return done;
  }
  while (done < n) {
    if (pos_ == end_ && n - done >= buffer_.size()) {
      // Large reads go straight into the destination.
      const ssize_t got = ::read(fd_, out + done, n - done);
      if (got < 0) {
        if (errno == EINTR) continue;
        fail_errno(fmt::format("{}:{}: read failed", name_, offset_));
      }
      if (got == 0) break;
      done += size_t(got);
      offset_ += uint64_t(got);
      continue;
    }
    if (fill() == 0) break;
    const size_t take = std::min(n - done, end_ - pos_);
    std::memcpy(out + done, buffer_.data() + pos_, take);
    pos_ += take;
    done += take;
    offset_ += take;
  }
  return done;
}

size_t InputStream::read_append(ByteBuffer& out, size_t n) {
  constexpr size_t kStep = 4 << 20;
  size_t done = 0;
  while (done < n) {
    const size_t step = std::min(n - done, kStep);
    const size_t old = out.size();
    out.resize(old + step);
    const size_t got = read(out.data() + old, step);
    out.resize(old + got);
    done += got;
    if (got < step) break;
  }
  return done;
}

bool InputStream::at_end() {
  if (memory_) return offset_ == mem_.size();
  return fill() == 0;
}

}  // namespace lmpipe
