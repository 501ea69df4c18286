// lib/core: checksums, atomic output, input streams.
#include <doctest/doctest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>

#include <thread>

#include "core/crc32c.h"
#include "core/error.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "core/sha256.h"

using namespace lmpipe;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const char* name) {
  const fs::path dir = fs::temp_directory_path() / (std::string("lmpipe-core-") + std::to_string(::getpid()) + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

size_t files_in(const fs::path& dir) {
  return size_t(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("crc32c matches the standard check value") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  CHECK(crc32c("", 0) == 0u);
  CHECK(crc32c("56789", 5, crc32c("1234", 4)) == 0xE3069283u);  // chaining
}

TEST_CASE("sha256 matches FIPS 180-4 examples") {
  const auto hex = [](std::string_view s) {
    Sha256 h;
    h.update(s);
    return h.hex_digest();
  };
  CHECK(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  const std::string chunk(1000, 'a');
  // 500 chunks of 7 and 500 of 993 bytes, so updates straddle the 64-byte blocks in every way.
  for (int i = 0; i < 1000; ++i) million.update(chunk.data(), i % 2 ? 993 : 7);
  Sha256 once;
  once.update(std::string(500 * 7 + 500 * 993, 'a'));
  CHECK(million.hex_digest() == once.hex_digest());
  CHECK(hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("an output file appears under its name only when committed") {
  const fs::path dir = fresh_dir("out");
  const std::string path = (dir / "result.bin").string();
  {
    OutputFile out(path, OutputContent::kBinary);
    out.write("partial");
    CHECK(!fs::exists(path));
    CHECK(files_in(dir) == 1);  // the temporary
  }
  CHECK(files_in(dir) == 0);  // destroyed without commit: nothing left

  {
    OutputFile out(path, OutputContent::kBinary);
    out.write(std::string(3 << 20, 'x'));  // larger than the buffer
    out.write("end");
    out.commit();
    CHECK(out.bytes_written() == (3u << 20) + 3);
  }
  CHECK(fs::file_size(path) == (3u << 20) + 3);
  CHECK(files_in(dir) == 1);

  // An existing file is replaced only on commit.
  {
    OutputFile out(path, OutputContent::kText);
    out.write("new");
  }
  CHECK(fs::file_size(path) == (3u << 20) + 3);
  write_file_atomically(path, "new");
  CHECK(fs::file_size(path) == 3);
  fs::remove_all(dir);
}

TEST_CASE("an output directory's files appear together, or not at all") {
  const fs::path dir = fresh_dir("outdir");
  const std::string path = (dir / "vocab").string();
  {
    OutputDirectory out(path);
    write_file_atomically(out.staging() + "/a.txt", "a");
    write_file_atomically(out.staging() + "/b.txt", "b");
    CHECK(!fs::exists(path));
  }  // failed before commit: nothing left, not even the temporary directory
  CHECK(files_in(dir) == 0);
  {
    OutputDirectory out(path);
    write_file_atomically(out.staging() + "/a.txt", "a");
    write_file_atomically(out.staging() + "/b.txt", "b");
    out.commit();
  }
  CHECK(files_in(path) == 2);
  CHECK(files_in(dir) == 1);
  // Into an existing directory: its other files stay, the set's are replaced.
  write_file_atomically(path + "/keep.txt", "k");
  {
    OutputDirectory out(path);
    write_file_atomically(out.staging() + "/a.txt", "new");
    out.commit();
  }
  CHECK(fs::file_size(path + "/a.txt") == 3);
  CHECK(files_in(path) == 3);
  CHECK(files_in(dir) == 1);
  // Missing parents are made, as mkdir -p would.
  OutputDirectory deep((dir / "x" / "y").string());
  deep.commit();
  CHECK(fs::is_directory(dir / "x" / "y"));
  fs::remove_all(dir);
}

TEST_CASE("refusing an output that names an input, under any name") {
  const fs::path dir = fresh_dir("same");
  const std::string input = (dir / "in.txt").string(), link = (dir / "link.txt").string();
  write_file_atomically(input, "data");
  fs::create_hard_link(input, link);
  CHECK_THROWS_AS(OutputFile(input, OutputContent::kText, {input}), UsageError);
  CHECK_THROWS_WITH_AS(OutputFile(link, OutputContent::kText, {"-", input}),
                       doctest::Contains(("is the input " + input).c_str()), UsageError);
  OutputFile other((dir / "out.txt").string(), OutputContent::kText, {input});  // another file: fine
  fs::remove_all(dir);
}

TEST_CASE("a fatal signal removes the temporary file") {
  const fs::path dir = fresh_dir("sig");
  const pid_t child = ::fork();
  if (child == 0) {
    std::signal(SIGTERM, SIG_DFL);  // doctest's crash handler would otherwise keep the signal
    OutputFile out((dir / "x").string(), OutputContent::kBinary);
    out.write("abc");
    std::raise(SIGTERM);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(files_in(dir) == 0);
  fs::remove_all(dir);
}

TEST_CASE("output to a missing directory is one clear error") {
  CHECK_THROWS_WITH_AS(OutputFile("/nonexistent-dir/x", OutputContent::kText),
                       doctest::Contains("cannot create a temporary file beside /nonexistent-dir/x"), Error);
}

TEST_CASE("input streams count offsets and grow buffers only as data arrives") {
  const std::vector<uint8_t> bytes = {1, 2, 3, 4, 5};
  auto in = InputStream::from_memory("m", bytes);
  uint8_t two[2];
  CHECK(in->read(two, 2) == 2);
  CHECK(in->offset() == 2);
  ByteBuffer rest;
  CHECK(in->read_append(rest, 1u << 30) == 3);  // asks for 1 GiB, gets what there is
  CHECK(rest.size() == 3);
  CHECK(rest.capacity() < (64u << 20));
  CHECK(in->at_end());

  const fs::path dir = fresh_dir("in");
  std::ofstream(dir / "f") << std::string(600000, 'z');
  auto file = InputStream::open((dir / "f").string());
  CHECK(file->size() == 600000u);
  ByteBuffer all;
  CHECK(file->read_append(all, 700000) == 600000);
  CHECK(file->at_end());
  CHECK_THROWS_WITH_AS(InputStream::open((dir / "missing").string()), doctest::Contains("cannot open"), Error);
  CHECK_THROWS_WITH_AS(InputStream::open(dir.string()), doctest::Contains("is a directory"), Error);
  fs::remove_all(dir);
}

TEST_CASE("devices and FIFOs are written to, not replaced") {
  {
    OutputFile out("/dev/null", OutputContent::kBinary);
    out.write("into the void");
    out.commit();
  }
  struct stat st;
  REQUIRE(::stat("/dev/null", &st) == 0);
  CHECK(S_ISCHR(st.st_mode));

  const fs::path dir = fresh_dir("fifo");
  const std::string fifo = (dir / "pipe").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string got;
  std::thread reader([&] {
    std::ifstream in(fifo);
    std::getline(in, got);
  });
  {
    OutputFile out(fifo, OutputContent::kText);
    out.write("through the pipe\n");
    out.commit();
  }
  reader.join();
  CHECK(got == "through the pipe");
  CHECK(fs::is_fifo(fifo));
  fs::remove_all(dir);
}
