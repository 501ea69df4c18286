// libFuzzer target for the bytes of a model directory. The first input byte picks the path:
//   0: the rest is a model.safetensors: its header is checked and every tensor read, as floats or ids;
//   1: the rest is config.json and model.safetensors (fuzz_input.h's two-file form), loaded as a model
//      directory (sample and pretrain --init-from read checkpoints this way).
// Every input must end in success or lmpipe::Error; a crash, a sanitizer report, a leak or an allocation
// over libFuzzer's -malloc_limit_mb is a bug: the sizes a header or config.json claims must be checked
// against the file before anything is allocated.
#include <cstdint>
#include <vector>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "fuzz_input.h"
#include "io/safetensors.h"

using namespace lmpipe;

namespace {

const fuzz::ScratchDir scratch;

void read_safetensors(fuzz::Bytes bytes) {
  const io::SafetensorsFile file(scratch.write("model.safetensors", bytes));
  for (const io::SafeTensor& tensor : file.tensors()) {
    try {
      if (tensor.dtype.starts_with("F") || tensor.dtype == "BF16") {
        std::vector<float> values(tensor.elements());
        file.read_floats(tensor, values.data());
      } else {
        (void)file.read_ids(tensor);
      }
    } catch (const Error&) {  // a dtype the reader does not convert: the next tensor
    }
  }
}

void load_model(fuzz::Bytes bytes) {
  const auto [config, weights] = fuzz::split_two(bytes);
  scratch.clear();
  scratch.write("config.json", config);
  scratch.write("model.safetensors", weights);
  const checkpoint::LoadedModel model = checkpoint::load_model_dir(scratch.path());
  if (model.params.size() != nn::parameter_count(model.config)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fuzz::Bytes bytes(data + 1, size - 1);
  try {
    if (data[0] % 2 == 0)
      read_safetensors(bytes);
    else
      load_model(bytes);
  } catch (const Error&) {
  }
  return 0;
}
