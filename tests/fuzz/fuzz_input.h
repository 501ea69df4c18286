#pragma once
// What the fuzz targets share: inputs cut into the files a parser reads, written to a scratch directory
// of the process (the parsers under test take paths, as the programs do).
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>

namespace lmpipe::fuzz {

using Bytes = std::span<const uint8_t>;

// A two-file input: a 4-byte little-endian length n, then the first file (n bytes, or all that is there),
// then the second file. The seed corpora are written in this form (tests/fuzz/make_seed_corpus.py).
inline std::pair<Bytes, Bytes> split_two(Bytes bytes) {
  if (bytes.size() < 4) return {bytes, {}};
  uint32_t n;
  std::memcpy(&n, bytes.data(), 4);
  bytes = bytes.subspan(4);
  const size_t first = std::min<size_t>(n, bytes.size());
  return {bytes.first(first), bytes.subspan(first)};
}

inline std::string_view as_text(Bytes bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }

// A directory of this process (on /dev/shm when there is one: the files are rewritten on every input),
// removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::getenv("TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/lmpipe-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) std::abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  // Makes the directory hold exactly the named file with these bytes (and the others given before since
  // the last clear()).
  std::string write(const std::string& name, Bytes bytes) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()),
                                                                  std::streamsize(bytes.size()));
    return file;
  }
  void clear() const {
    for (const auto& entry : std::filesystem::directory_iterator(path_)) std::filesystem::remove(entry.path());
  }

 private:
  std::string path_;
};

}  // namespace lmpipe::fuzz
