// The encoder half of pretrain without a process: batches from records (segments, padding, NSP labels,
// static and dynamic masks), accumulation that equals one big batch, sequence-length schedules, BERT's
// learning-rate schedule and the optimizer recipes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "data/masking.h"
#include "nn/bert.h"
#include "nn/optimizer.h"
#include "train/encoder_batch.h"
#include "train/pretrain.h"
#include "train/seq_len_schedule.h"

using namespace lmpipe;

namespace {

io::RecordView record(std::span<const uint32_t> ids, uint32_t len_a = 0, int8_t is_next = io::kNoLabel,
                         std::span<const uint32_t> positions = {}, std::span<const uint32_t> labels = {}) {
  io::RecordView r;
  r.ids = ids;
  r.len_a = len_a;
  r.is_next = is_next;
  r.positions = positions;
  r.labels = labels;
  return r;
}

}  // namespace

TEST_CASE("a BERT batch: segments through the first [SEP], padding, masked rows, NSP labels as HuggingFace's") {
  train::EncoderBatchBuilder builder(nn::EncoderArch::kBert, 0);
  builder.start(8);
  Rng unused(0);
  // [CLS] a a [SEP] b [SEP] (len_a 2, B follows A), then [CLS] a [SEP] b b b [SEP] (B random).
  const std::vector<uint32_t> ids1 = {101, 7, 8, 102, 9, 102}, pos1 = {2}, lab1 = {8};
  const std::vector<uint32_t> ids2 = {101, 7, 102, 9, 9, 9, 102}, pos2 = {1, 4}, lab2 = {5, 6};
  const io::RecordView r1 = record(ids1, 2, 1, pos1, lab1), r2 = record(ids2, 1, 0, pos2, lab2);
  builder.add(r1, "a.shard", nullptr, unused);
  builder.add(r2, "a.shard", nullptr, unused);
  const nn::EncoderBatch b = builder.batch();
  CHECK(b.B == 2);
  CHECK(b.Tn == 8);
  CHECK(std::vector<uint32_t>(b.ids, b.ids + 16) ==
        std::vector<uint32_t>{101, 7, 8, 102, 9, 102, 0, 0, 101, 7, 102, 9, 9, 9, 102, 0});
  CHECK(std::vector<uint32_t>(b.segments, b.segments + 16) ==
        std::vector<uint32_t>{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0});
  CHECK(std::vector<uint8_t>(b.attend, b.attend + 16) == std::vector<uint8_t>{1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0});
  CHECK(std::vector<uint32_t>(b.mlm_rows, b.mlm_rows + b.M) == std::vector<uint32_t>{2, 9, 12});
  CHECK(std::vector<uint32_t>(b.mlm_labels, b.mlm_labels + b.M) == std::vector<uint32_t>{8, 5, 6});
  CHECK(std::vector<uint32_t>(b.nsp_labels, b.nsp_labels + 2) == std::vector<uint32_t>{0, 1});
  CHECK(builder.tokens() == 13);

  const std::vector<uint32_t> long_ids(9, 7);
  CHECK_THROWS_AS(builder.add(record(long_ids, 0, 1), "a.shard", nullptr, unused), Error);
  CHECK_THROWS_AS(builder.add(record(ids1), "a.shard", nullptr, unused), Error);  // no NSP label
}

TEST_CASE("dynamic masking: the same key masks the same way, another key anew") {
  const uint32_t vocab = 50, mask = 4;
  data::MaskOptions options;
  options.probabilistic_count = true;
  options.max_predictions = 0;
  const data::Masker masker(vocab, mask, {0, 1, 2, 4}, {}, options);
  std::vector<uint32_t> ids = {0};
  for (uint32_t i = 0; i < 60; ++i) ids.push_back(5 + i % 40);
  ids.push_back(2);
  const auto masked_rows = [&](uint64_t key) {
    train::EncoderBatchBuilder builder(nn::EncoderArch::kRoberta, 1);
    builder.start(64);
    Rng rng(7, {key});
    builder.add(record(ids), "p.shard", &masker, rng);
    const nn::EncoderBatch b = builder.batch();
    CHECK(b.segments == nullptr);
    CHECK(b.nsp_labels == nullptr);
    for (size_t m = 0; m < b.M; ++m) CHECK(b.mlm_labels[m] == ids[b.mlm_rows[m]]);
    return std::vector<uint32_t>(b.mlm_rows, b.mlm_rows + b.M);
  };
  CHECK(masked_rows(1) == masked_rows(1));
  CHECK(masked_rows(1) != masked_rows(2));
  CHECK(!masked_rows(3).empty());
}

TEST_CASE("micro-batches with the step's denominators add up to the gradient of one big batch") {
  nn::BertConfig c;
  c.vocab_size = 13;
  c.max_len = 6;
  c.n_layer = 1;
  c.n_head = 2;
  c.d_model = 8;
  c.d_ff = 12;
  c.dropout = 0;
  nn::Bert<double> model(c);
  model.init(5);
  const std::vector<uint32_t> ids = {2, 7, 4, 11, 3, 2, 9, 3, 0, 0}, segments = {0, 0, 0, 1, 1, 0, 0, 1, 0, 0};
  const std::vector<uint8_t> attend = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  const std::vector<uint32_t> rows = {1, 3, 4, 6}, labels = {5, 12, 1, 8}, nsp = {0, 1};
  nn::EncoderBatch whole{ids.data(), segments.data(), attend.data(), rows.data(), labels.data(), 4, nsp.data(), 2, 5};
  model.zero_grad();
  const nn::EncoderLoss one = model.forward_backward(whole);
  const std::vector<double> expected(model.grads().begin(), model.grads().end());

  // The first sequence has 3 masked positions, the second 1: a mean of the two micro means would weigh them wrongly.
  const std::vector<uint32_t> rows2 = {1};
  nn::EncoderBatch first{ids.data(), segments.data(), attend.data(), rows.data(), labels.data(), 3, nsp.data(), 1, 5, 4, 2};
  nn::EncoderBatch second{ids.data() + 5, segments.data() + 5, attend.data() + 5, rows2.data(), labels.data() + 3, 1,
                          nsp.data() + 1, 1, 5, 4, 2};
  model.zero_grad();
  const nn::EncoderLoss a = model.forward_backward(first), b = model.forward_backward(second);
  CHECK(a.mlm + b.mlm == doctest::Approx(one.mlm).epsilon(1e-12));
  CHECK(a.nsp + b.nsp == doctest::Approx(one.nsp).epsilon(1e-12));
  for (size_t i = 0; i < expected.size(); ++i) REQUIRE(model.grads()[i] == doctest::Approx(expected[i]).epsilon(1e-9));
}

TEST_CASE("sequence-length schedules: phases by fractions of the steps, alternation, and bad specs") {
  const auto bert = train::SeqLenSchedule::parse("128:0.9,512:0.1");
  CHECK(bert.length_at(0, 100) == 128);
  CHECK(bert.length_at(89, 100) == 128);
  CHECK(bert.length_at(90, 100) == 512);
  CHECK(bert.length_at(99, 100) == 512);
  CHECK(bert.lengths() == std::vector<size_t>{128, 512});
  const auto alt = train::SeqLenSchedule::parse("alt:128,512");
  CHECK(alt.length_at(0, 10) == 128);
  CHECK(alt.length_at(1, 10) == 512);
  CHECK(alt.length_at(6, 10) == 128);
  CHECK(train::SeqLenSchedule::parse("").empty());
  for (const char* bad : {"128", "128:0.5,512:0.6", "0:1", "x:1", "128:0", "alt:", "alt:128,-1", "128:0.5,512"})
    CHECK_THROWS_AS(train::SeqLenSchedule::parse(bad), UsageError);
}

TEST_CASE("BERT's schedule decays from step 0 and warmup overrides its start; recipes and their overrides") {
  using nn::Schedule;
  CHECK(nn::learning_rate(0, 100, 10, 1.0, 0.0, Schedule::kLinearFromStart) == doctest::Approx(0.1));
  CHECK(nn::learning_rate(9, 100, 10, 1.0, 0.0, Schedule::kLinearFromStart) == doctest::Approx(1.0));
  // After warmup the rate is where the decay from step 0 has got to: 1 - 10/100, not the peak.
  CHECK(nn::learning_rate(10, 100, 10, 1.0, 0.0, Schedule::kLinearFromStart) == doctest::Approx(0.9));
  CHECK(nn::learning_rate(55, 100, 10, 1.0, 0.0, Schedule::kLinearFromStart) == doctest::Approx(0.45));
  // fairseq's (and RoBERTa's) linear decay is measured from the end of warmup.
  CHECK(nn::learning_rate(10, 100, 10, 1.0, 0.0, Schedule::kLinear) == doctest::Approx(1.0));

  train::PretrainOptions o;
  o.arch = "bert";
  train::Recipe r = train::resolve_recipe(o);
  CHECK(r.name == "bert");
  CHECK(!r.bias_correction);
  CHECK(r.eps == 1e-6);
  CHECK(r.grad_clip == 1.0);
  CHECK(r.warmup == 10000);
  CHECK(r.schedule == Schedule::kLinearFromStart);
  o.arch = "roberta";
  o.lr = 1e-3;
  r = train::resolve_recipe(o);
  CHECK(r.bias_correction);
  CHECK(r.beta2 == 0.98);
  CHECK(r.grad_clip == 0);
  CHECK(r.lr == 1e-3);
  o.arch = "gpt";
  o.lr.reset();
  r = train::resolve_recipe(o);
  CHECK(r.min_lr == doctest::Approx(6e-5));
  o.recipe = "adafactor";
  CHECK_THROWS_AS(train::resolve_recipe(o), UsageError);
}
