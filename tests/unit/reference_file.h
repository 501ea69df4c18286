#pragma once
// Reading the PyTorch reference files of tests/data/nn (safetensors with settings in the metadata).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "io/safetensors.h"

inline std::string meta_text(const lmpipe::SafetensorsFile& f, const char* key) {
  return f.metadata()[key].get<std::string>();
}
inline size_t meta_size(const lmpipe::SafetensorsFile& f, const char* key) { return std::stoul(meta_text(f, key)); }
inline double meta_double(const lmpipe::SafetensorsFile& f, const char* key) { return std::stod(meta_text(f, key)); }

inline std::vector<float> floats(const lmpipe::SafetensorsFile& f, const std::string& name) {
  const lmpipe::SafeTensor* t = f.find(name);
  REQUIRE_MESSAGE(t != nullptr, name);
  std::vector<float> out(t->elements());
  f.read_floats(*t, out.data());
  return out;
}
