#pragma once
// A GPT checkpoint ready to generate from: its model, the KV-cached decoder over it and its tokenizer
// (the checkpoint's own files, or -v), checked against each other.
#include <memory>
#include <string>

#include "nn/gpt.h"
#include "nn/gpt_decoder.h"
#include "nn/onednn_gemm.h"
#include "tok/tokenizer.h"

namespace lmpipe::gen {

struct Generator {
  std::string vocab_spec;  // where the tokenizer came from, for messages
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::unique_ptr<nn::Gpt<float>> model;
  std::unique_ptr<nn::GptDecoder<float>> decoder;  // reads model's weights
  std::unique_ptr<nn::Bf16Copy> weights_bf16;      // what the bf16 products read (--precision bf16)
};

// Loads checkpoint (a checkpoint or run directory holding a GPT) with the tokenizer `vocab` ("": the
// checkpoint's files). Throws Error when there is no tokenizer, it is not byte-level BPE, or it has more
// tokens than the model has outputs. With the bf16 products on (nn::select_precision), the weights are
// converted once here.
Generator load_generator(const std::string& checkpoint, const std::string& vocab);

}  // namespace lmpipe::gen
