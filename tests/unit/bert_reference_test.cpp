// The C++ BERT and RoBERTa against PyTorch: tests/data/nn/{bert,roberta}_tiny.safetensors hold a small
// model's weights, a padded batch with masked positions (and NSP labels), PyTorch's losses, gradients and
// the losses of three AdamW steps (tests/reference/make_bert_reference.py makes them; CI needs no PyTorch).
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/safetensors.h"
#include "nn/bert.h"
#include "nn/optimizer.h"
#include "reference_file.h"

using namespace lmpipe;
using namespace lmpipe::nn;
using lmpipe::io::SafeTensor;
using lmpipe::io::SafetensorsFile;

namespace {

double scalar(const SafetensorsFile& f, const char* name) {
  double v = 0;
  f.read_doubles(*f.find(name), &v);
  return v;
}

}  // namespace

TEST_CASE("BERT and RoBERTa match PyTorch: MLM and NSP losses, gradients, three AdamW steps") {
  for (const char* arch : {"bert", "roberta"}) {
    CAPTURE(arch);
    const SafetensorsFile ref(std::string(LMPIPE_TEST_DATA_DIR) + "/nn/" + arch + "_tiny.safetensors");
    BertConfig config;
    config.arch = std::string(arch) == "bert" ? EncoderArch::kBert : EncoderArch::kRoberta;
    config.vocab_size = meta_size(ref, "vocab_size");
    config.max_len = meta_size(ref, "max_len");
    config.type_vocab_size = meta_size(ref, "type_vocab_size");
    config.position_offset = meta_size(ref, "position_offset");
    config.n_layer = meta_size(ref, "n_layer");
    config.n_head = meta_size(ref, "n_head");
    config.d_model = meta_size(ref, "d_model");
    config.d_ff = meta_size(ref, "d_ff");
    config.ln_eps = float(meta_double(ref, "ln_eps"));
    config.dropout = 0;
    Bert<float> model(config);
    for (const TensorInfo& t : model.layout().tensors()) {
      const SafeTensor* s = ref.find(t.name);
      REQUIRE_MESSAGE(s != nullptr, t.name);
      REQUIRE(s->shape == t.shape);
      ref.read_floats(*s, model.params().data() + t.offset);
    }
    const SafeTensor* ids_t = ref.find("input_ids");
    const std::vector<uint32_t> ids = ref.read_ids(*ids_t), segments = ref.read_ids(*ref.find("segments"));
    const std::vector<uint32_t> attend32 = ref.read_ids(*ref.find("attend"));
    const std::vector<uint8_t> attend(attend32.begin(), attend32.end());
    const std::vector<uint32_t> rows = ref.read_ids(*ref.find("mlm_rows")), labels = ref.read_ids(*ref.find("mlm_labels"));
    const std::vector<uint32_t> nsp = ref.read_ids(*ref.find("nsp_labels"));
    EncoderBatch batch;
    batch.ids = ids.data();
    batch.segments = segments.data();
    batch.attend = attend.data();
    batch.mlm_rows = rows.data();
    batch.mlm_labels = labels.data();
    batch.M = rows.size();
    batch.nsp_labels = config.nsp() ? nsp.data() : nullptr;
    batch.B = ids_t->shape[0];
    batch.Tn = ids_t->shape[1];

    model.zero_grad();
    const EncoderLoss loss = model.forward_backward(batch);
    CHECK(std::abs(loss.mlm - scalar(ref, "mlm_loss")) / scalar(ref, "mlm_loss") < 1e-5);
    if (config.nsp()) CHECK(std::abs(loss.nsp - scalar(ref, "nsp_loss")) / scalar(ref, "nsp_loss") < 1e-5);
    double worst = 0;
    std::string worst_name;
    for (const TensorInfo& t : model.layout().tensors()) {
      const std::vector<float> g = floats(ref, "grad." + t.name);
      REQUIRE(g.size() == t.size);
      const double e = worst_gradient_error(model.grads().data() + t.offset, g);
      if (e > worst) {
        worst = e;
        worst_name = t.name;
      }
    }
    CAPTURE(worst_name);
    CHECK(worst < 1e-4);

    AdamWOptions o;
    o.beta1 = meta_double(ref, "beta1");
    o.beta2 = meta_double(ref, "beta2");
    o.eps = meta_double(ref, "eps");
    o.weight_decay = meta_double(ref, "weight_decay");
    AdamW adam(model.layout(), o);
    std::vector<double> losses;
    for (int step = 0; step < 3; ++step) {
      model.zero_grad();
      losses.push_back(model.forward_backward(batch).total());
      adam.step(model.params().data(), model.grads().data(), meta_double(ref, "lr"));
    }
    losses.push_back(model.forward(batch).total());
    std::vector<double> want(4);
    ref.read_doubles(*ref.find("adamw_losses"), want.data());
    for (size_t i = 0; i < 4; ++i) CHECK(std::abs(losses[i] - want[i]) / want[i] < 1e-5);
  }
}
