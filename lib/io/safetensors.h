#pragma once
// The safetensors format (HuggingFace): an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the tensors' bytes. Checkpoints use it so that
// transformers' from_pretrained loads them, and tests use it for PyTorch reference values.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/unique_fd.h"

#include <nlohmann/json.hpp>

namespace lmpipe::io {

struct SafeTensor {
  std::string name;
  std::string dtype;  // "F32", "F64", "F16", "BF16", "I64", "I32", "U32", "U8", ...
  std::vector<size_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  size_t elements() const {
    size_t n = 1;
    for (size_t d : shape) n *= d;
    return n;
  }
};

class SafetensorsFile {
 public:
  // Reads and checks the header; throws Error ("FILE:OFFSET: what") if it is malformed.
  explicit SafetensorsFile(const std::string& path);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::vector<SafeTensor>& tensors() const { return tensors_; }
  const nlohmann::json& metadata() const { return metadata_; }
  const SafeTensor* find(const std::string& name) const;
  // The tensor converted to float (from F32, F64, F16 or BF16); dst holds elements() floats.
  void read_floats(const SafeTensor& tensor, float* dst) const;
  void read_doubles(const SafeTensor& tensor, double* dst) const;
  // Integer tensors (I64, I32, U32, U8) as uint32 token ids (or pixel values).
  std::vector<uint32_t> read_ids(const SafeTensor& tensor) const;

 private:
  std::vector<uint8_t> read_bytes(const SafeTensor& tensor) const;
  void read_into(const SafeTensor& tensor, void* dst) const;  // the tensor's bytes as stored

  std::string path_;
  UniqueFd fd_;
  uint64_t data_start_ = 0;
  std::vector<SafeTensor> tensors_;
  nlohmann::json metadata_ = nlohmann::json::object();
};

// A tensor to write: its bytes are data[0, bytes).
struct TensorToWrite {
  std::string name;
  std::string dtype;
  std::vector<size_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// Writes the tensors (in the given order) and string metadata to path, atomically.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lmpipe::io
