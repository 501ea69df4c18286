// pretrain's vocabulary growth for fine-tuning on an extended vocabulary (train/model_setup.h): the
// tensors with a row per token grow, each new row the mean of the old ones, and the rest stay as they were.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "train/model_setup.h"

using namespace lmpipe;

TEST_CASE("a model grows to the data's vocabulary: new rows the mean of the old, the rest unchanged") {
  nn::GptConfig config;
  config.vocab_size = 8;
  config.max_len = 4;
  config.n_layer = 1;
  config.n_head = 2;
  config.d_model = 4;
  config.d_ff = 16;
  checkpoint::LoadedModel model;
  model.config = config;
  model.dir = std::filesystem::temp_directory_path().string();  // no tokenizer files there
  const nn::ParameterLayout before = checkpoint::parameter_layout(model.config);
  model.params.resize(before.total());
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (float& p : model.params) p = normal(rng);
  const nn::Buffer<float> old = model.params;

  train::DataSet data;
  data.paths = {"chat.shard"};
  data.header.vocab_size = 8;
  CHECK_FALSE(train::grow_vocabulary(model, data, "", true));
  data.header.vocab_size = 11;
  REQUIRE(train::grow_vocabulary(model, data, "", true));
  CHECK(nn::shape_of(model.config).vocab_size == 11);
  const nn::ParameterLayout after = checkpoint::parameter_layout(model.config);
  REQUIRE(model.params.size() == after.total());
  for (const nn::TensorInfo& t : after.tensors()) {
    CAPTURE(t.name);
    const nn::TensorInfo* was = before.find(t.name);
    if (t.name != "transformer.wte.weight") {
      CHECK(std::equal(old.begin() + long(was->offset), old.begin() + long(was->offset + was->size),
                       model.params.begin() + long(t.offset)));
      continue;
    }
    const size_t C = 4;
    CHECK(std::equal(old.begin() + long(was->offset), old.begin() + long(was->offset + was->size),
                     model.params.begin() + long(t.offset)));
    for (size_t c = 0; c < C; ++c) {
      double mean = 0;
      for (size_t r = 0; r < 8; ++r) mean += old[was->offset + r * C + c];
      mean /= 8;
      for (size_t r = 8; r < 11; ++r) CHECK(model.params[t.offset + r * C + c] == doctest::Approx(mean).epsilon(1e-6));
    }
  }
}
