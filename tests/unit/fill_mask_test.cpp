// Fill-mask: the MLM logits agree with the loss the model trains on, and fill_mask encodes the text around
// its masks, frames it, and ranks the candidates.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "gen/fill_mask.h"
#include "nn/bert.h"
#include "tok/tokenizer.h"

using namespace lmpipe;

namespace {

nn::BertConfig small(nn::EncoderArch arch, size_t vocab) {
  nn::BertConfig c;
  c.arch = arch;
  c.vocab_size = vocab;
  c.max_len = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  c.d_ff = 32;
  c.dropout = 0;
  if (arch == nn::EncoderArch::kRoberta) {
    c.type_vocab_size = 1;
    c.position_offset = 2;
  }
  return c;
}

}  // namespace

TEST_CASE("mlm_logits: minus the log-softmax at the labels is the MLM loss") {
  nn::Bert<double> model(small(nn::EncoderArch::kBert, 40));
  model.init(11);
  const std::vector<uint32_t> ids = {2, 7, 4, 11, 3, 2, 9, 3, 0, 0}, segments = {0, 0, 0, 1, 1, 0, 0, 1, 0, 0};
  const std::vector<uint8_t> attend = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  const std::vector<uint32_t> rows = {1, 3, 6}, labels = {5, 12, 39}, nsp = {0, 1};
  nn::EncoderBatch batch{ids.data(), segments.data(), attend.data(), rows.data(), labels.data(), 3, nsp.data(), 2, 5};
  const double loss = model.forward(batch).mlm;
  std::vector<double> logits(3 * 40);
  model.mlm_logits(batch, logits.data());
  double total = 0;
  for (size_t m = 0; m < 3; ++m) {
    double sum = 0;
    for (size_t v = 0; v < 40; ++v) sum += std::exp(logits[m * 40 + v]);
    total += std::log(sum) - logits[m * 40 + labels[m]];
  }
  CHECK(total / 3 == doctest::Approx(loss).epsilon(1e-12));
}

TEST_CASE("fill_mask frames the text, finds each [MASK] and ranks the vocabulary there") {
  const auto tokenizer = tok::Tokenizer::load(LMPIPE_TEST_DATA_DIR "/../../share/vocab/bert-base-uncased");
  const tok::Vocab& vocab = tokenizer->vocab();
  nn::Bert<float> model(small(nn::EncoderArch::kBert, vocab.size()));
  model.init(3);
  // The decoder bias decides when the rest is small: "paris" first, then "london".
  float* bias = model.params().data() + model.layout().find("cls.predictions.bias")->offset;
  const uint32_t paris = vocab.ids.at("paris"), london = vocab.ids.at("london");
  bias[paris] = 30;
  bias[london] = 29;
  const std::vector<gen::MaskFill> fills = gen::fill_mask(model, *tokenizer, "The capital of France is [MASK].", 3);
  REQUIRE(fills.size() == 1);
  // [CLS] the capital of france is [MASK] . [SEP]
  CHECK(fills[0].position == 6);
  REQUIRE(fills[0].candidates.size() == 3);
  CHECK(fills[0].candidates[0].token == "paris");
  CHECK(fills[0].candidates[0].sequence == "the capital of france is paris .");
  CHECK(fills[0].candidates[1].token == "london");
  CHECK(fills[0].candidates[0].probability / fills[0].candidates[1].probability == doctest::Approx(std::exp(1.0)).epsilon(0.05));
  CHECK(fills[0].candidates[1].probability > fills[0].candidates[2].probability);

  const std::vector<gen::MaskFill> two = gen::fill_mask(model, *tokenizer, "[MASK] of [MASK]", 1);
  REQUIRE(two.size() == 2);
  CHECK(two[0].position == 1);
  CHECK(two[1].position == 3);
  CHECK(two[1].candidates[0].sequence == "[MASK] of paris");

  CHECK_THROWS_AS(gen::fill_mask(model, *tokenizer, "no mask here", 3), Error);
  CHECK_THROWS_AS(gen::fill_mask(model, *tokenizer, "a b c d e f g h i j k l m n o [MASK]", 3), Error);  // > 16 positions
}
