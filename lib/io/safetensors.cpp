#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "core/output_file.h"

namespace lmpipe::io {
namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit

size_t dtype_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "U8" || dtype == "I8" || dtype == "BOOL") return 1;
  return 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal
      int e = -1;
      uint32_t m = mantissa;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3FF) << 13;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000 | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.valid()) fail_errno(fmt::format("cannot open {}", path));
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) fail_errno(fmt::format("{}: cannot stat", path));
  const uint64_t size = uint64_t(st.st_size);
  uint8_t prefix[8];
  if (size < 8 || ::pread(fd_.get(), prefix, 8, 0) != 8) fail_at(path, 0, "not a safetensors file (shorter than its header length)");
  uint64_t header_size;
  std::memcpy(&header_size, prefix, 8);
  if (header_size > kMaxHeader || 8 + header_size > size)
    fail_at(path, 0, fmt::format("not a safetensors file (header of {} bytes in a file of {})", header_size, size));
  std::string header(header_size, '\0');
  if (::pread(fd_.get(), header.data(), header_size, 8) != ssize_t(header_size)) fail_errno(fmt::format("{}: read failed", path));
  const nlohmann::json j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail_at(path, 8, "the safetensors header is not a JSON object");
  data_start_ = 8 + header_size;
  const uint64_t data_size = size - data_start_;
  for (const auto& [name, info] : j.items()) {
    if (name == "__metadata__") {
      if (info.is_object()) metadata_ = info;
      continue;
    }
    SafeTensor t;
    t.name = name;
    if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() || !info.contains("shape") ||
        !info["shape"].is_array() || !info.contains("data_offsets") || !info["data_offsets"].is_array() ||
        info["data_offsets"].size() != 2 || !info["data_offsets"][0].is_number_unsigned() ||
        !info["data_offsets"][1].is_number_unsigned())
      fail_at(path, 8, fmt::format("tensor {}: needs dtype, shape and data_offsets (two byte offsets)", name));
    t.dtype = info["dtype"].get<std::string>();
    for (const auto& d : info["shape"]) {
      if (!d.is_number_unsigned()) fail_at(path, 8, fmt::format("tensor {}: shape is not a list of sizes", name));
      t.shape.push_back(d.get<size_t>());
    }
    t.begin = info["data_offsets"][0].get<uint64_t>();
    t.end = info["data_offsets"][1].get<uint64_t>();
    const size_t element = dtype_size(t.dtype);
    if (element == 0) fail_at(path, 8, fmt::format("tensor {}: unknown dtype {}", name, t.dtype));
    uint64_t bytes = element;  // the shape's size in bytes, which must not wrap around
    for (const size_t d : t.shape)
      if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes))
        fail_at(path, 8, fmt::format("tensor {}: shape [{}] is larger than any file", name, fmt::join(t.shape, ", ")));
    if (t.begin > t.end || t.end > data_size || (t.end - t.begin) != bytes)
      fail_at(path, 8, fmt::format("tensor {}: byte range [{}, {}) does not fit its shape or the file", name, t.begin, t.end));
    tensors_.push_back(std::move(t));
  }
  // Each byte belongs to one tensor at most: ranges that overlap would make two tensors share values.
  std::vector<const SafeTensor*> by_start;
  for (const SafeTensor& t : tensors_) by_start.push_back(&t);
  std::sort(by_start.begin(), by_start.end(), [](const SafeTensor* a, const SafeTensor* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const SafeTensor* reach = nullptr;  // of the tensors so far, the one that ends last
  for (const SafeTensor* t : by_start) {
    if (t->end == t->begin) continue;  // an empty tensor holds no bytes
    if (reach != nullptr && t->begin < reach->end)
      fail_at(path, 8, fmt::format("tensors {} and {}: byte ranges [{}, {}) and [{}, {}) overlap", reach->name, t->name,
                                   reach->begin, reach->end, t->begin, t->end));
    if (reach == nullptr || t->end > reach->end) reach = t;
  }
}


const SafeTensor* SafetensorsFile::find(const std::string& name) const {
  for (const SafeTensor& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void SafetensorsFile::read_into(const SafeTensor& t, void* dst) const {
  auto* out = static_cast<uint8_t*>(dst);
  const size_t size = t.end - t.begin;
  size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd_.get(), out + done, size - done, off_t(data_start_ + t.begin + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fail_errno(fmt::format("{}: reading tensor {} failed", path_, t.name));
    done += size_t(got);
  }
}

std::vector<uint8_t> SafetensorsFile::read_bytes(const SafeTensor& t) const {
  std::vector<uint8_t> bytes(t.end - t.begin);
  read_into(t, bytes.data());
  return bytes;
}

void SafetensorsFile::read_floats(const SafeTensor& t, float* dst) const {
  const size_t n = t.elements();
  if (t.dtype == "F32") {  // straight into place: no copy of a gigabyte-sized tensor
    read_into(t, dst);
    return;
  }
  const std::vector<uint8_t> bytes = read_bytes(t);
  if (t.dtype == "F64") {
    for (size_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, bytes.data() + 8 * i, 8);
      dst[i] = float(v);
    }
  } else if (t.dtype == "F16" || t.dtype == "BF16") {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      if (t.dtype == "F16") {
        dst[i] = half_to_float(h);
      } else {
        const uint32_t bits = uint32_t(h) << 16;
        std::memcpy(&dst[i], &bits, 4);
      }
    }
  } else {
    throw Error(fmt::format("{}: tensor {} is {}, not floating point", path_, t.name, t.dtype));
  }
}

void SafetensorsFile::read_doubles(const SafeTensor& t, double* dst) const {
  if (t.dtype == "F64") {
    const std::vector<uint8_t> bytes = read_bytes(t);
    if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size());
    return;
  }
  std::vector<float> f(t.elements());
  read_floats(t, f.data());
  std::copy(f.begin(), f.end(), dst);
}

std::vector<uint32_t> SafetensorsFile::read_ids(const SafeTensor& t) const {
  const std::vector<uint8_t> bytes = read_bytes(t);
  std::vector<uint32_t> ids(t.elements());
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t v;
    if (t.dtype == "I64") {
      std::memcpy(&v, bytes.data() + 8 * i, 8);
    } else if (t.dtype == "I32") {
      int32_t w;
      std::memcpy(&w, bytes.data() + 4 * i, 4);
      v = w;
    } else if (t.dtype == "U32") {
      uint32_t w;
      std::memcpy(&w, bytes.data() + 4 * i, 4);
      v = w;
    } else if (t.dtype == "U8") {
      v = bytes[i];
    } else {
      throw Error(fmt::format("{}: tensor {} is {}, not integer ids", path_, t.name, t.dtype));
    }
    ids[i] = v < 0 ? UINT32_MAX : uint32_t(v);  // negative ids (PyTorch's ignore_index -1/-100) mean "no target"
  }
  return ids;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as the reference writer does
  OutputFile out(path, OutputContent::kBinary);
  const uint64_t size = text.size();
  out.write(&size, 8);
  out.write(text);
  for (const TensorToWrite& t : tensors) out.write(t.data, t.bytes);
  out.commit();
}

}  // namespace lmpipe::io
