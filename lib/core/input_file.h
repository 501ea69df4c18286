#pragma once
// Sequential input from a file, stdin or memory. Readers never seek, so pipes work; the stream counts
// the bytes it has handed out, which is the OFFSET in "tool: error: FILE:OFFSET: what".
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/byte_buffer.h"

namespace lmpipe {

class InputStream {
 public:
  // "-" means stdin. Throws Error if the file cannot be opened.
  static std::unique_ptr<InputStream> open(const std::string& path);
  // Reads from bytes that outlive the stream (tests, the fuzz target).
  static std::unique_ptr<InputStream> from_memory(std::string name, std::span<const uint8_t> bytes);

  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  const std::string& name() const { return name_; }
  uint64_t offset() const { return offset_; }        // of the next byte read() returns
  std::optional<uint64_t> size() const { return size_; }  // total bytes, when known (regular files)

  // Reads up to n bytes; returns fewer only at the end of input. Throws Error if a read fails.
  size_t read(void* dst, size_t n);
  // Appends up to n bytes to out, growing it only as bytes actually arrive: a length field that lies
  // about a huge size costs no more memory than the input really holds.
  size_t read_append(ByteBuffer& out, size_t n);
  // True when no byte is left.
  bool at_end();

 private:
  InputStream() = default;
  size_t fill();  // refills buffer_, returns bytes now buffered

  std::string name_;
  int fd_ = -1;
  bool owns_fd_ = false;
  std::optional<uint64_t> size_;
  uint64_t offset_ = 0;
  // fd mode: buffer_[pos_, end_) is read but not handed out. memory mode: mem_ holds all bytes.
  std::vector<uint8_t> buffer_;
  size_t pos_ = 0, end_ = 0;
  std::span<const uint8_t> mem_;
  bool memory_ = false;
};

// The whole of a file ("-": stdin). Throws Error if it cannot be opened or read.
std::string read_file(const std::string& path);

// Total bytes of the given inputs when all are regular files, else 0 ("-" or a pipe: unknown). For
// progress displays; never throws.
uint64_t total_input_bytes(const std::vector<std::string>& paths);

}  // namespace lmpipe
