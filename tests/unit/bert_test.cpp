// The BERT and RoBERTa encoders with their pretraining heads: every parameter's gradient by finite
// differences (padding, segments, masked positions, NSP, dropout), and the papers' parameter counts.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "finite_differences.h"
#include "nn/bert.h"

using namespace lmpipe::nn;

namespace {

BertConfig tiny(EncoderArch arch, float dropout) {
  BertConfig c;
  c.arch = arch;
  c.vocab_size = 13;
  c.max_len = 6;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 8;
  c.d_ff = 12;
  c.dropout = dropout;
  c.ln_eps = 1e-5f;
  if (arch == EncoderArch::kRoberta) {
    c.type_vocab_size = 1;
    c.position_offset = 2;
  }
  return c;
}

}  // namespace

TEST_CASE("every encoder parameter's gradient matches finite differences") {
  for (EncoderArch arch : {EncoderArch::kBert, EncoderArch::kRoberta}) {
    for (float dropout : {0.0f, 0.2f}) {
      for (Gelu gelu : {Gelu::kErf, Gelu::kTanh}) {
        CAPTURE(int(arch));
        CAPTURE(dropout);
        CAPTURE(int(gelu));
        BertConfig config = tiny(arch, dropout);
        config.gelu = gelu;
        Bert<double> model(config);
        model.init(3);
        std::mt19937 rng(9);
        std::normal_distribution<double> d(0, 0.1);
        for (double& x : model.params()) x += d(rng);  // layer norms and biases away from 1 and 0
        // Two sequences of 5; the second ends in padding; masked positions in both (one on padding-free [CLS]).
        const bool bert = arch == EncoderArch::kBert;
        const std::vector<uint32_t> ids = {2, 7, 4, 11, 3, 2, 9, 3, 0, 0};
        const std::vector<uint32_t> segments = {0, 0, 0, 1, 1, 0, 0, 1, 0, 0};
        const std::vector<uint8_t> attend = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
        const std::vector<uint32_t> rows = {1, 3, 6, 0}, labels = {5, 12, 1, 8};
        const std::vector<uint32_t> nsp = {0, 1};
        EncoderBatch batch;
        batch.ids = ids.data();
        batch.segments = bert ? segments.data() : nullptr;
        batch.attend = attend.data();
        batch.mlm_rows = rows.data();
        batch.mlm_labels = labels.data();
        batch.M = rows.size();
        batch.nsp_labels = bert ? nsp.data() : nullptr;
        batch.B = 2;
        batch.Tn = 5;
        model.set_dropout_key(77);
        model.zero_grad();
        const EncoderLoss first = model.forward_backward(batch);
        CHECK(first.mlm > 0);
        CHECK((first.nsp > 0) == bert);
        const std::vector<double> analytic(model.grads().begin(), model.grads().end());
        // The same key gives the same dropout masks.
        const GradientError e = check_gradients(model.params(), analytic, [&] { return model.forward_backward(batch).total(); });
        CAPTURE(e.at);
        CHECK(e.worst < 1e-6);
      }
    }
  }
}

TEST_CASE("padding does not change the real positions' losses") {
  Bert<double> model(tiny(EncoderArch::kBert, 0));
  model.init(5);
  const std::vector<uint32_t> short_ids = {2, 7, 4, 3}, padded_ids = {2, 7, 4, 3, 0, 0};
  const std::vector<uint8_t> short_attend = {1, 1, 1, 1}, padded_attend = {1, 1, 1, 1, 0, 0};
  const std::vector<uint32_t> rows = {1, 2}, labels = {9, 10}, nsp = {1};
  EncoderBatch a;
  a.ids = short_ids.data();
  a.attend = short_attend.data();
  a.mlm_rows = rows.data();
  a.mlm_labels = labels.data();
  a.M = 2;
  a.nsp_labels = nsp.data();
  a.B = 1;
  a.Tn = 4;
  EncoderBatch b = a;
  b.ids = padded_ids.data();
  b.attend = padded_attend.data();
  b.Tn = 6;
  const EncoderLoss la = model.forward(a), lb = model.forward(b);
  CHECK(la.mlm == doctest::Approx(lb.mlm).epsilon(1e-12));
  CHECK(la.nsp == doctest::Approx(lb.nsp).epsilon(1e-12));
}

TEST_CASE("a RoBERTa batch without masked positions has no loss and no gradient") {
  // Only the masked rows leave RoBERTa's top layer: here there are none.
  Bert<double> model(tiny(EncoderArch::kRoberta, 0.1f));
  model.init(4);
  const std::vector<uint32_t> ids = {2, 7, 4, 3, 5, 6};
  EncoderBatch batch;
  batch.ids = ids.data();
  batch.B = 2;
  batch.Tn = 3;
  model.zero_grad();
  const EncoderLoss loss = model.forward_backward(batch);
  CHECK(loss.mlm == 0);
  CHECK(loss.mlm_correct == 0);
  for (double g : model.grads()) REQUIRE(g == 0);
}

TEST_CASE("encoder parameter counts of the papers' models") {
  // HuggingFace: BertForPreTraining(bert-base-uncased) 110,106,428; RobertaForMaskedLM(roberta-base)
  // 124,697,433; the layouts must agree with the formulas.
  CHECK(bert_preset("bert-base")->parameter_count() == 110106428);
  CHECK(bert_preset("roberta-base")->parameter_count() == 124697433);
  CHECK(bert_preset("bert-large")->parameter_count() == 336226108);
  for (const std::string& name : bert_preset_names()) {
    CAPTURE(name);
    const BertConfig c = *bert_preset(name);
    if (c.n_layer <= 2) CHECK(Bert<float>(c, ModelBuffers::kLayout).layout().total() == c.parameter_count());
  }
  CHECK(Bert<float>(tiny(EncoderArch::kRoberta, 0), ModelBuffers::kLayout).layout().total() ==
        tiny(EncoderArch::kRoberta, 0).parameter_count());
  CHECK(Bert<float>(*bert_preset("bert-base"), ModelBuffers::kLayout).layout().total() == 110106428);
}
