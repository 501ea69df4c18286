// LLaVA's model (nn::ClipVision, the projector, nn::Gpt with the pictures' embeddings in place of their
// placeholders) against PyTorch: tests/data/nn/llava_tiny.safetensors holds a tiny vision tower, projector
// and GPT-2, two pictures, two sequences and PyTorch's features, projector output, logits, loss and every
// gradient (tests/reference/make_llava_reference.py makes it; CI needs no PyTorch). Then every gradient by
// finite differences in double, and the frozen parts of LLaVA's two stages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "core/input_file.h"
#include "io/safetensors.h"
#include "nn/gpt_decoder.h"
#include "nn/layers.h"
#include "nn/llava.h"
#include "reference_file.h"
#include "train/image_batch.h"

using namespace lmpipe;
using namespace lmpipe::nn;
using lmpipe::io::SafetensorsFile;

namespace {

LlavaConfig reference_config(const SafetensorsFile& f) {
  LlavaConfig c;
  c.vision.image_size = meta_size(f, "vision_image_size");
  c.vision.patch_size = meta_size(f, "vision_patch_size");
  c.vision.d_model = meta_size(f, "vision_d_model");
  c.vision.n_layer = meta_size(f, "vision_n_layer");
  c.vision.n_head = meta_size(f, "vision_n_head");
  c.vision.d_ff = meta_size(f, "vision_d_ff");
  c.vision.feature_layer = std::stoi(meta_text(f, "vision_feature_layer"));
  c.text.vocab_size = meta_size(f, "text_vocab_size");
  c.text.max_len = meta_size(f, "text_max_len");
  c.text.n_layer = meta_size(f, "text_n_layer");
  c.text.n_head = meta_size(f, "text_n_head");
  c.text.d_model = meta_size(f, "text_d_model");
  c.text.d_ff = meta_size(f, "text_d_ff");
  c.image_token = uint32_t(meta_size(f, "image_token"));
  return c;
}

// The slices of a LLaVA buffer: the vision tower's, the projector's, the decoder's.
template <class T>
std::vector<std::vector<T>> parts(Llava<T>& model, const Buffer<T>& all) {
  const auto at = [&](size_t i) { return all.begin() + ptrdiff_t(i); };
  return {{at(0), at(model.projector_offset())},
          {at(model.projector_offset()), at(model.language_offset())},
          {at(model.language_offset()), all.end()}};
}

double worst_error(const float* ours, const std::vector<float>& ref) {
  return worst_scaled_error(ours, ref.data(), ref.size(), 0.1, 1e-3);
}

}  // namespace

TEST_CASE("LLaVA: features, projector, logits, loss and every gradient match PyTorch") {
  const SafetensorsFile f(std::string(LMPIPE_TEST_DATA_DIR) + "/nn/llava_tiny.safetensors");
  Llava<float> model(reference_config(f));
  for (const TensorInfo& t : model.layout().tensors()) f.read_floats(*f.find(t.name), model.params().data() + t.offset);
  std::vector<uint8_t> pixels;
  for (const uint32_t v : f.read_ids(*f.find("pixels"))) pixels.push_back(uint8_t(v));
  const auto inputs = f.read_ids(*f.find("input_ids")), targets = f.read_ids(*f.find("targets"));
  const size_t I = f.find("pixels")->shape[0], B = f.find("input_ids")->shape[0], Tn = f.find("input_ids")->shape[1];

  model.zero_grad();
  const double loss = model.forward_backward(pixels.data(), I, inputs.data(), targets.data(), B, Tn);
  const double want = floats(f, "loss")[0];
  CHECK(std::abs(loss - want) / want < 1e-5);
  CHECK(worst_error(model.vision().features(pixels.data(), I), floats(f, "features")) < 1e-4);
  CHECK(worst_error(model.image_embeddings(), floats(f, "image_embeddings")) < 1e-4);
  // The logits of every position from the decoder's last forward pass.
  const size_t V = model.config().text.vocab_size, C = model.config().text.d_model;
  std::vector<float> logits(B * Tn * V);
  lm_head_logits(logits.data(), model.language().head_input(), model.language().param_data(), B * Tn, C, V);
  CHECK(worst_error(logits.data(), floats(f, "logits")) < 1e-4);
  // Every tensor's gradient (the unused last vision layer's and post_layernorm's are 0 on both sides).
  for (const TensorInfo& t : model.layout().tensors()) {
    CAPTURE(t.name);
    CHECK(worst_gradient_error(model.grads().data() + t.offset, floats(f, "grad." + t.name)) < 1e-4);
  }
  // The forward pass alone gives the same loss.
  CHECK(std::abs(model.forward(pixels.data(), I, inputs.data(), targets.data(), B, Tn) - loss) < 1e-6);
}

namespace {

LlavaConfig tiny_llava(Projector projector) {
  LlavaConfig c;
  c.vision.image_size = 16;
  c.vision.patch_size = 8;
  c.vision.d_model = 8;
  c.vision.n_layer = 3;  // a frozen tower's third layer reuses the first one's arrays
  c.vision.n_head = 2;
  c.vision.d_ff = 12;
  c.vision.feature_layer = -1;
  c.text.vocab_size = 20;
  c.text.max_len = 12;
  c.text.n_layer = 1;
  c.text.n_head = 2;
  c.text.d_model = 6;
  c.text.d_ff = 10;
  c.projector = projector;
  c.image_token = 19;
  return c;
}

struct TinyBatch {
  std::vector<uint8_t> pixels;
  std::vector<uint32_t> inputs, targets;
  size_t I = 2, B = 2, Tn = 7;
  TinyBatch() {
    for (size_t i = 0; i < I * 16 * 16 * 3; ++i) pixels.push_back(uint8_t(i * 37 % 251));
    // Each sequence one picture of 4 patches.
    inputs = {3, 19, 19, 19, 19, 5, 8, /**/ 19, 19, 19, 19, 2, 7, 1};
    targets = {kIgnore, kIgnore, kIgnore, kIgnore, 5, 8, 2, /**/ kIgnore, kIgnore, kIgnore, 2, 7, 1, 4};
  }
};

}  // namespace

TEST_CASE("LLaVA: every gradient matches finite differences, both projectors") {
  for (const Projector projector : {Projector::kMlp2x, Projector::kLinear}) {
    CAPTURE(int(projector));
    Llava<double> model(tiny_llava(projector));
    model.init(5);
    std::mt19937 rng(11);
    std::normal_distribution<double> d(0, 0.2);
    for (double& x : model.params()) x += d(rng);
    const TinyBatch b;
    model.zero_grad();
    model.forward_backward(b.pixels.data(), b.I, b.inputs.data(), b.targets.data(), b.B, b.Tn);
    const auto loss = [&] { return model.forward(b.pixels.data(), b.I, b.inputs.data(), b.targets.data(), b.B, b.Tn); };
    const GradientError e =
        check_gradients(model.params(), std::vector<double>(model.grads().begin(), model.grads().end()), loss);
    CAPTURE(e.at);
    CHECK(e.worst < 1e-6);
  }
}

TEST_CASE("LLaVA's stages: gradients of the trained range alone, as with nothing frozen; a frozen tower's features") {
  const LlavaConfig config = tiny_llava(Projector::kMlp2x);
  const TinyBatch b;
  Llava<float> model(config);
  model.init(5);
  model.zero_grad();
  const double all = model.forward_backward(b.pixels.data(), b.I, b.inputs.data(), b.targets.data(), b.B, b.Tn);
  CHECK(model.grads_offset() == 0);
  const auto unfrozen = parts(model, model.grads());
  CHECK(std::any_of(unfrozen[0].begin(), unfrozen[0].end(), [](float x) { return x != 0; }));
  const size_t projector = model.language_offset() - model.projector_offset();
  for (const Frozen frozen : {Frozen{true, true}, Frozen{true, false}}) {
    CAPTURE(frozen.language);
    Llava<float> stage(config, ModelBuffers::kTraining, frozen);
    stage.init(5);
    // No gradients for the vision tower; from the projector on, the decoder's only when it trains.
    CHECK(stage.grads_offset() == stage.projector_offset());
    CHECK(stage.grads().size() == (frozen.language ? projector : stage.layout().total() - stage.projector_offset()));
    for (int step = 0; step < 2; ++step) {  // the second from the first's gradients zeroed
      stage.zero_grad();
      CHECK(stage.forward_backward(b.pixels.data(), b.I, b.inputs.data(), b.targets.data(), b.B, b.Tn) == all);
      const auto at = [&](size_t i) { return stage.grads().begin() + ptrdiff_t(i); };
      CHECK(std::vector<float>(at(0), at(projector)) == unfrozen[1]);
      if (!frozen.language) CHECK(std::vector<float>(at(projector), stage.grads().end()) == unfrozen[2]);
    }
    // The frozen tower keeps two layers' activations, not every layer's: the same features, bit for bit.
    const size_t n = b.I * config.vision.patches() * config.vision.d_model;
    const float* kept = model.vision().features(b.pixels.data(), b.I);
    const std::vector<float> want(kept, kept + n);
    const float* reused = stage.vision().features(b.pixels.data(), b.I);
    CHECK(std::vector<float>(reused, reused + n) == want);
    CHECK_THROWS_WITH(stage.vision().backward(want.data(), b.I),
                      "ClipVision::backward on a model made without gradients");
  }
  // Placeholders and pictures must agree.
  std::vector<uint32_t> short_inputs = b.inputs;
  short_inputs[1] = 3;
  CHECK_THROWS_WITH(model.forward(b.pixels.data(), b.I, short_inputs.data(), b.targets.data(), b.B, b.Tn),
                    "7 image placeholders in the batch, but its 2 pictures have 8 patches");
}

TEST_CASE("images records as LLaVA's rows: the placeholder expanded to the patches, targets where the mask is") {
  using train::ImageRecord;
  const uint32_t P = 9;  // the placeholder
  std::vector<ImageRecord> records(2);
  records[0] = {{P, 4, 5, 6}, {0, 1, 1, 1}, std::vector<uint8_t>(12, 1)};           // a caption
  records[1] = {{1, 2, P, 3, 7, 8}, {0, 0, 0, 0, 1, 1}, std::vector<uint8_t>(12, 2)};  // a chat
  train::ImageRows rows;
  train::make_image_rows(records, P, 3, 100, rows);
  CHECK(rows.Tn == 7);  // the chat: 6 ids, the placeholder three times, less the last
  CHECK(rows.inputs == std::vector<uint32_t>{P, P, P, 4, 5, 0, 0, /**/ 1, 2, P, P, P, 3, 7});
  const uint32_t x = kIgnore;
  CHECK(rows.targets == std::vector<uint32_t>{x, x, 4, 5, 6, x, x, /**/ x, x, x, x, x, 7, 8});
  CHECK(rows.targets_counted == 5);
  CHECK(rows.pictures == 2);
  CHECK(rows.pixels.size() == 24);
  CHECK(rows.pixels[12] == 2);
  // Cut to the decoder's positions, the picture kept whole.
  train::make_image_rows(records, P, 3, 6, rows);
  CHECK(rows.Tn == 6);
  CHECK(rows.cut == 1);
  CHECK(rows.targets[6 + 5] == 7);
  CHECK_THROWS_WITH(train::make_image_rows(records, P, 3, 4, rows),
                    "an images record whose picture ends at position 5, past the decoder's 4");
  records[1].ids[0] = P;
  CHECK_THROWS_WITH(train::make_image_rows(records, P, 3, 100, rows),
                    "an images record with 2 placeholder ids (id 9), not one");
}

TEST_CASE("LLaVA checkpoints: LlavaForConditionalGeneration's config.json and names, read back as written") {
  const SafetensorsFile f(std::string(LMPIPE_TEST_DATA_DIR) + "/nn/llava_tiny.safetensors");
  for (const Projector projector : {Projector::kMlp2x, Projector::kLinear}) {
    CAPTURE(int(projector));
    LlavaConfig config = reference_config(f);
    config.projector = projector;
    Llava<float> model(config, ModelBuffers::kInference);
    model.init(3);
    const ParameterLayout layout = checkpoint::parameter_layout(config);
    CHECK(layout.total() == model.layout().total());
    CHECK(layout.total() == config.parameter_count());
    CHECK(layout.find("vision_tower.vision_model.encoder.layers.1.mlp.fc2.weight") != nullptr);
    CHECK(layout.find("language_model.transformer.h.1.attn.c_attn.weight") != nullptr);
    CHECK((layout.find("multi_modal_projector.linear_2.weight") != nullptr) == (projector == Projector::kMlp2x));
    const Buffer<float>& params = model.params();
    const std::string dir = (std::filesystem::temp_directory_path() /
                             ("lmpipe-llava-" + std::to_string(::getpid()) + "-" + std::to_string(int(projector))))
                                .string();
    std::filesystem::create_directories(dir);
    checkpoint::write_model_dir(dir, config, params.data(), {});
    const auto json = nlohmann::json::parse(read_file(dir + "/config.json"));
    CHECK(json["architectures"][0] == "LlavaForConditionalGeneration");
    CHECK(json["image_token_index"] == config.image_token);
    CHECK(json["vision_config"]["model_type"] == "clip_vision_model");
    CHECK(json["vision_config"]["patch_size"] == config.vision.patch_size);
    CHECK(json["text_config"]["model_type"] == "gpt2");
    CHECK(json["vision_feature_layer"] == config.vision.feature_layer);
    CHECK(json["image_seq_length"] == config.vision.patches());
    const checkpoint::LoadedModel loaded = checkpoint::load_model_dir(dir);
    const auto* read = std::get_if<LlavaConfig>(&loaded.config);
    REQUIRE(read != nullptr);
    CHECK(read->projector == projector);
    CHECK(read->image_token == config.image_token);
    CHECK(read->vision.feature_layer == config.vision.feature_layer);
    CHECK(read->vision.n_layer == config.vision.n_layer);
    CHECK(read->text.d_ff == config.text.d_ff);
    CHECK(std::equal(params.begin(), params.end(), loaded.params.begin(), loaded.params.end()));
    CHECK(nn::describe(loaded.config).starts_with("LLaVA: CLIP ViT 2x32 (24 px, patches of 8)"));
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("LLaVA generation: the KV-cached decoder with the picture's embeddings gives the model's logits") {
  Llava<float> model(tiny_llava(Projector::kMlp2x), ModelBuffers::kInference);
  model.init(8);
  const TinyBatch b;
  const size_t Tn = b.Tn, V = model.config().text.vocab_size, patches = model.config().vision.patches();
  // The first sequence: its picture at positions 1..4, as a prompt.
  const std::vector<uint32_t> prompt(b.inputs.begin(), b.inputs.begin() + long(Tn));
  const float* embeds = model.picture_embeddings(b.pixels.data(), 1);
  std::vector<uint32_t> rows(patches);
  for (size_t p = 0; p < patches; ++p) rows[p] = uint32_t(1 + p);
  std::vector<float> whole(V), cached(V), stepped(V);
  model.language().set_input_embeddings(embeds, nullptr, rows.data(), patches);
  model.language().last_logits(whole.data(), prompt.data(), 1, Tn);
  model.language().clear_input_embeddings();
  GptDecoder<float> decoder(model.language());
  decoder.set_input_embeddings(embeds, rows.data(), patches);
  decoder.append(prompt.data(), Tn, cached.data());
  // The same prompt a few rows at a time: the picture's rows land where they belong.
  decoder.reset();
  decoder.append(prompt.data(), 3, stepped.data());
  decoder.append(prompt.data() + 3, Tn - 3, stepped.data());
  for (size_t v = 0; v < V; ++v) {
    CAPTURE(v);
    CHECK(cached[v] == doctest::Approx(whole[v]).epsilon(1e-5));
    CHECK(stepped[v] == doctest::Approx(whole[v]).epsilon(1e-5));
  }
}
