#pragma once
// Reading the PyTorch reference files of tests/data/nn (safetensors with settings in the metadata).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "finite_differences.h"
#include "io/safetensors.h"
#include "nn/model_config.h"
#include "nn/parameters.h"

inline std::string meta_text(const lmpipe::io::SafetensorsFile& f, const char* key) {
  return f.metadata()[key].get<std::string>();
}
inline size_t meta_size(const lmpipe::io::SafetensorsFile& f, const char* key) { return std::stoul(meta_text(f, key)); }
inline double meta_double(const lmpipe::io::SafetensorsFile& f, const char* key) { return std::stod(meta_text(f, key)); }

// A GPT's shape as the reference script wrote it into the metadata; the architecture stays the caller's.
inline void read_gpt_shape(const lmpipe::io::SafetensorsFile& f, lmpipe::nn::GptConfig& config) {
  config.vocab_size = meta_size(f, "vocab_size");
  config.max_len = meta_size(f, "max_len");
  config.n_layer = meta_size(f, "n_layer");
  config.n_head = meta_size(f, "n_head");
  config.d_model = meta_size(f, "d_model");
  config.d_ff = meta_size(f, "d_ff");
}

// Sets every parameter of model from the reference file's tensor of the same name (after prefix).
template <class Model>
void load_reference_params(const lmpipe::io::SafetensorsFile& f, Model& model, const std::string& prefix = "") {
  for (const lmpipe::nn::TensorInfo& t : model.layout().tensors())
    f.read_floats(*f.find(prefix + t.name), model.params().data() + t.offset);
}

inline std::vector<float> floats(const lmpipe::io::SafetensorsFile& f, const std::string& name) {
  const lmpipe::io::SafeTensor* t = f.find(name);
  REQUIRE_MESSAGE(t != nullptr, name);
  std::vector<float> out(t->elements());
  f.read_floats(*t, out.data());
  return out;
}

// The largest relative error of a tensor's gradient against PyTorch's. Each element's error is measured
// against its own size or a tenth of the tensor's RMS gradient, whichever is larger (and at least 1e-3):
// both sides sum in float, so their absolute errors are set by the tensor's scale, and an element thirty
// times smaller than its neighbours cannot be held to 1e-4 of itself (the pooler weight's worst element,
// -0.0011 in a tensor of RMS 0.032, moved between 5e-5 and 1.1e-4 of itself with the summation order of
// a layer norm). A wrong gradient is off by about the RMS itself, 1e5 times the tolerance.
inline double worst_gradient_error(const float* ours, const std::vector<float>& ref) {
  return worst_scaled_error(ours, ref.data(), ref.size(), 0.1, 1e-3);
}

// The worst worst_gradient_error over every tensor of model, against the file's prefix + name.
template <class Model>
double worst_model_gradient(const lmpipe::io::SafetensorsFile& f, Model& model, const std::string& prefix = "grad.") {
  double worst = 0;
  for (const lmpipe::nn::TensorInfo& t : model.layout().tensors())
    worst = std::max(worst, worst_gradient_error(model.grads().data() + t.offset, floats(f, prefix + t.name)));
  return worst;
}
