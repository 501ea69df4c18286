#pragma once
// The model a GPT objective trains (next-token, reward): the model and its thread replicas (a share of each
// micro-batch's sequences per thread, nn/gpt_replicas.h), built from loaded weights or from a seed.
#include <cstdint>
#include <memory>
#include <optional>

#include "nn/buffer.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "nn/model_config.h"

namespace lmpipe::train {

struct GptTrainee {
  std::unique_ptr<nn::Gpt<float>> model;
  std::unique_ptr<nn::GptReplicas<float>> replicas;

  void build(const nn::GptConfig& config, std::optional<nn::Buffer<float>> loaded, uint64_t seed, size_t threads) {
    model = std::make_unique<nn::Gpt<float>>(config);
    if (loaded) {
      model->params() = std::move(*loaded);
    } else {
      model->init(seed);
    }
    replicas = std::make_unique<nn::GptReplicas<float>>(*model, threads);
  }
};

}  // namespace lmpipe::train
