#pragma once
// Output to a named file or stdout. A named file is written under a temporary name in the same
// directory and only renamed to its real name by commit(), after fsync: a run that fails, is killed
// by SIGINT/SIGTERM/SIGHUP, or throws leaves no partial file under the name the user asked for.
// Names of existing devices, FIFOs and sockets (/dev/null, a named pipe) are written to directly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmpipe {

enum class OutputContent { kText, kBinary };

// Where writers put bytes: an OutputFile, or memory in tests.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const void* data, size_t size) = 0;
  // Hands buffered bytes on now (a reader is waiting for them: text streamed token by token).
  virtual void flush() {}
};

// Text to any sink (the sinks take bytes).
inline void write_text(ByteSink& out, std::string_view text) { out.write(text.data(), text.size()); }

class MemorySink final : public ByteSink {
 public:
  void write(const void* data, size_t size) override {
    const auto* p = static_cast<const unsigned char*>(data);
    bytes.insert(bytes.end(), p, p + size);
  }
  std::vector<unsigned char> bytes;
};

class OutputFile final : public ByteSink {
 public:
  // path "" or "-" is stdout. Binary content is refused on a terminal (UsageError), and so is a path
  // that names one of `inputs` (the same file under any name): the output would replace what it reads.
  OutputFile(const std::string& path, OutputContent content, const std::vector<std::string>& inputs = {});
  ~OutputFile();  // without commit(): removes the temporary file
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, size_t size) override;
  void write(std::string_view s) { write(s.data(), s.size()); }
  void flush() override { flush_buffer(); }
  // Flushes; for a named file also fsyncs it, renames it into place and fsyncs the directory.
  void commit();

  const std::string& name() const { return name_; }  // the path, or "<stdout>"
  uint64_t bytes_written() const { return written_; }

 private:
  void flush_buffer();
  void write_all(const void* data, size_t size);

  std::string name_;
  std::string temp_path_;  // empty for stdout and for devices, FIFOs and sockets
  int fd_ = -1;
  bool owns_plain_fd_ = false;  // a device or FIFO opened by name: written to directly
  bool committed_ = false;
  uint64_t written_ = 0;
  std::vector<char> buffer_;
};

// Makes the names in a directory durable (renames into it, files created in it): fsync on the directory.
// Best effort: a directory that cannot be opened is left as it is.
void sync_directory(const std::string& dir);

// Writes a whole file atomically (temp + fsync + rename).
void write_file_atomically(const std::string& path, std::string_view contents);

// A set of files that appears whole: written into a temporary directory beside `path` (staging()), then
// moved into place by commit(): the temporary directory renamed to path when path does not exist, else
// each file renamed into it once all of them are written. Without commit() the temporary directory is
// removed, so a run that fails (a full disk on the third file) leaves no part of the set behind.
class OutputDirectory {
 public:
  explicit OutputDirectory(const std::string& path);
  ~OutputDirectory();
  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;

  const std::string& staging() const { return staging_; }
  void commit();

 private:
  std::string path_, staging_;
  bool committed_ = false;
};

}  // namespace lmpipe
