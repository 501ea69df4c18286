// lib/io/safetensors: a header that lies about its tensors is one clear error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"

using namespace lmpipe;
namespace fs = std::filesystem;

namespace {

// A safetensors file with this header JSON and `data_bytes` zero bytes of data.
std::string write_file(const std::string& name, const std::string& header, size_t data_bytes) {
  const std::string path = (fs::temp_directory_path() / ("lmpipe-st-" + std::to_string(::getpid()) + name)).string();
  std::ofstream out(path, std::ios::binary);
  const uint64_t size = header.size();
  char prefix[8];
  std::memcpy(prefix, &size, 8);
  out.write(prefix, 8);
  out << header << std::string(data_bytes, '\0');
  return path;
}

}  // namespace

TEST_CASE("safetensors: overlapping byte ranges and shapes past any file size are refused") {
  const std::string good =
      write_file("good", R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, )"
                         R"("b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", 12);
  CHECK(io::SafetensorsFile(good).tensors().size() == 2);
  const std::string overlap =
      write_file("overlap", R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, )"
                            R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12);
  CHECK_THROWS_WITH_AS(io::SafetensorsFile{overlap}, doctest::Contains("tensors a and b: byte ranges [0, 8) and [4, 12) overlap"),
                       Error);
  // 2^40 x 2^40 x 4 bytes wraps to 0 in 64 bits: it must not pass for an empty tensor.
  const std::string huge =
      write_file("huge", R"({"a": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 0]}})", 0);
  CHECK_THROWS_WITH_AS(io::SafetensorsFile{huge}, doctest::Contains("is larger than any file"), Error);
  for (const std::string& p : {good, overlap, huge}) fs::remove(p);
}

TEST_CASE("safetensors: byte offsets that are not numbers are refused, and a refused file keeps no descriptor") {
  const std::string text =
      write_file("text-offsets", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["0", 4]}})", 4);
  CHECK_THROWS_WITH_AS(io::SafetensorsFile{text}, doctest::Contains("tensor a: needs dtype, shape and data_offsets"), Error);
  // A long-lived process (a fuzzer, a server) that is refused many files must not run out of descriptors.
  const auto open_descriptors = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
  };
  const auto before = open_descriptors();
  for (int i = 0; i < 100; ++i) CHECK_THROWS_AS(io::SafetensorsFile{text}, Error);
  CHECK(open_descriptors() == before);
  fs::remove(text);
}
