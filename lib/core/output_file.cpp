#include "core/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe {
namespace {

constexpr size_t kWriteBufferSize = 1 << 20;

// Temporary files that a fatal signal must not leave behind. A fixed table of pointers, because the
// handler may only do async-signal-safe things (read a pointer, unlink).
constexpr int kMaxTemps = 32;
std::atomic<const char*> g_temps[kMaxTemps];

void remove_temps_and_reraise(int sig) {
  for (auto& slot : g_temps) {
    const char* path = slot.load();
    if (path != nullptr) ::unlink(path);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Takes over the signals that still have their default action; a handler the program set stays.
void install_signal_cleanup() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current;
    if (::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      struct sigaction action {};
      action.sa_handler = remove_temps_and_reraise;
      sigemptyset(&action.sa_mask);
      ::sigaction(sig, &action, nullptr);
    }
  }
}

void register_temp(const char* path) {
  for (auto& slot : g_temps) {
    const char* expected = nullptr;
    if (slot.compare_exchange_strong(expected, path)) return;
  }
  // More open outputs than slots: the file is still removed on every non-signal failure path.
}

void unregister_temp(const char* path) {
  for (auto& slot : g_temps) {
    const char* expected = path;
    if (slot.compare_exchange_strong(expected, nullptr)) return;
  }
}

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

OutputFile::OutputFile(const std::string& path, OutputContent content, const std::vector<std::string>& inputs) {
  buffer_.reserve(kWriteBufferSize);
  struct stat out_st;
  if (!path.empty() && path != "-" && ::stat(path.c_str(), &out_st) == 0 && S_ISREG(out_st.st_mode)) {
    for (const std::string& input : inputs) {
      struct stat in_st;
      if (input != "-" && ::stat(input.c_str(), &in_st) == 0 && in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino)
        throw UsageError(fmt::format("-o {} is the input {}: the output would replace it (write to another file)", path,
                                     input));
    }
  }
  if (path.empty() || path == "-") {
    name_ = "<stdout>";
    fd_ = STDOUT_FILENO;
    if (content == OutputContent::kBinary && ::isatty(fd_))
      throw UsageError("refusing to write binary output to a terminal: redirect stdout or give -o FILE");
    return;
  }
  name_ = path;
  // A device, FIFO or socket (-o /dev/null, -o >(zstd ...)) is written straight to: renaming a temporary
  // file over it would replace the device.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) throw Error(fmt::format("{}: is a directory", path));
    fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) fail_errno(fmt::format("cannot open {}", path));
    if (content == OutputContent::kBinary && ::isatty(fd_)) {
      ::close(fd_);
      throw UsageError(fmt::format("refusing to write binary output to the terminal {}", path));
    }
    owns_plain_fd_ = true;
    return;
  }
  install_signal_cleanup();
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string templ = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "." + base +
                      ".tmp-XXXXXX";
  fd_ = ::mkostemp(templ.data(), O_CLOEXEC);
  if (fd_ < 0) fail_errno(fmt::format("cannot create a temporary file beside {}", path));
  // mkostemp makes the file 0600; give it the mode a plain open() would have.
  static const mode_t kUmask = [] { const mode_t m = ::umask(0); ::umask(m); return m; }();
  ::fchmod(fd_, 0666 & ~kUmask);
  temp_path_ = std::move(templ);
  register_temp(temp_path_.c_str());
}

OutputFile::~OutputFile() {
  if (owns_plain_fd_) {
    try { flush_buffer(); } catch (...) {}
    ::close(fd_);
    return;
  }
  if (temp_path_.empty()) {
    if (!committed_) {
      try { flush_buffer(); } catch (...) {}  // stdout: hand on what we have; the exit status tells
    }
    return;
  }
  if (!committed_) {
    unregister_temp(temp_path_.c_str());
    if (fd_ >= 0) ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

void OutputFile::write_all(const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno(fmt::format("{}: write failed", name_));
    }
    p += n;
    size -= size_t(n);
  }
}

void OutputFile::flush_buffer() {
  if (buffer_.empty()) return;
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void OutputFile::write(const void* data, size_t size) {
  written_ += size;
  if (buffer_.size() + size <= kWriteBufferSize) {
    const auto* p = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), p, p + size);
    return;
  }
  flush_buffer();
  if (size >= kWriteBufferSize) {
    write_all(data, size);
  } else {
    const auto* p = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), p, p + size);
  }
}

void OutputFile::commit() {
  flush_buffer();
  if (temp_path_.empty()) {  // stdout, or a device or FIFO
    committed_ = true;
    return;
  }
  // On any failure below the destructor removes the temporary file.
  if (::fsync(fd_) != 0) fail_errno(fmt::format("{}: fsync failed", name_));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno(fmt::format("{}: close failed", name_));
  if (::rename(temp_path_.c_str(), name_.c_str()) != 0)
    fail_errno(fmt::format("cannot rename {} to {}", temp_path_, name_));
  committed_ = true;
  unregister_temp(temp_path_.c_str());
  sync_directory(directory_of(name_));  // the rename itself is durable only then
}

void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

OutputDirectory::OutputDirectory(const std::string& path) : path_(path) {
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) throw Error(fmt::format("{}: not a directory", path_));
  std::error_code ec;
  std::filesystem::create_directories(directory_of(path_), ec);  // as mkdir -p would: the parents
  const size_t slash = path_.rfind('/');
  const std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  staging_ = (slash == std::string::npos ? std::string() : path_.substr(0, slash + 1)) + "." + base + ".tmp-XXXXXX";
  if (::mkdtemp(staging_.data()) == nullptr) fail_errno(fmt::format("cannot create the output directory {}", path_));
  static const mode_t kUmask = [] { const mode_t m = ::umask(0); ::umask(m); return m; }();
  ::chmod(staging_.c_str(), 0777 & ~kUmask);  // mkdtemp makes it 0700
}

OutputDirectory::~OutputDirectory() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

void OutputDirectory::commit() {
  namespace fs = std::filesystem;
  sync_directory(staging_);  // the files are fsynced as they are written; this makes their names durable
  if (::rename(staging_.c_str(), path_.c_str()) != 0) {
    if (errno != EEXIST && errno != ENOTEMPTY) fail_errno(fmt::format("cannot rename {} to {}", staging_, path_));
    // path is a directory already: its files are replaced one by one, each atomically.
    for (const auto& entry : fs::directory_iterator(staging_)) {
      const std::string to = path_ + "/" + entry.path().filename().string();
      if (::rename(entry.path().c_str(), to.c_str()) != 0)
        fail_errno(fmt::format("cannot rename {} to {}", entry.path().string(), to));
    }
    std::error_code ec;
    fs::remove(staging_, ec);
  }
  committed_ = true;
  sync_directory(path_);
  sync_directory(directory_of(path_));
}

void write_file_atomically(const std::string& path, std::string_view contents) {
  OutputFile out(path, OutputContent::kText);
  out.write(contents);
  out.commit();
}

}  // namespace lmpipe
