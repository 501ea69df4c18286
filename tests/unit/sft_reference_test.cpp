// Supervised fine-tuning on chat records against PyTorch: tests/data/nn/gpt2_sft_tiny.safetensors holds a
// small GPT-2, three chat records (one of two conversations packed together), the rows PyTorch made of
// them and its masked loss and gradients (tests/reference/make_sft_reference.py makes it; CI needs no
// PyTorch). The rows come from train/chat_batch.h, the loss and gradients from nn::Gpt with positions.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/safetensors.h"
#include "nn/gpt.h"
#include "nn/gpt_replicas.h"
#include "reference_file.h"
#include "train/chat_batch.h"

using namespace lmpipe;
using namespace lmpipe::nn;
using lmpipe::io::SafeTensor;
using lmpipe::io::SafetensorsFile;

namespace {

struct SftReference {
  SafetensorsFile ref{std::string(LMPIPE_TEST_DATA_DIR) + "/nn/gpt2_sft_tiny.safetensors"};
  GptConfig config;
  std::vector<train::ChatRecord> records;

  SftReference() {
    read_gpt_shape(ref, config);
    const auto ids = ref.read_ids(*ref.find("ids")), mask = ref.read_ids(*ref.find("loss_mask"));
    const auto lens = ref.read_ids(*ref.find("conversation_lens")), record_lens = ref.read_ids(*ref.find("record_lens"));
    const auto conversations = ref.read_ids(*ref.find("record_conversations"));
    size_t at = 0, conversation = 0;
    for (size_t r = 0; r < record_lens.size(); ++r) {
      train::ChatRecord c;
      c.ids.assign(ids.begin() + long(at), ids.begin() + long(at + record_lens[r]));
      for (size_t i = at; i < at + record_lens[r]; ++i) c.loss_mask.push_back(uint8_t(mask[i]));
      c.conversation_lens.assign(lens.begin() + long(conversation), lens.begin() + long(conversation + conversations[r]));
      at += record_lens[r];
      conversation += conversations[r];
      records.push_back(std::move(c));
    }
  }
};

}  // namespace

TEST_CASE("chat records become PyTorch's rows: inputs, masked targets, positions from 0 in each conversation") {
  const SftReference s;
  train::ChatRows rows;
  train::make_chat_rows(s.records, rows);
  const SafeTensor* inputs = s.ref.find("input_ids");
  CHECK(rows.Tn == inputs->shape[1]);
  CHECK(rows.inputs == s.ref.read_ids(*inputs));
  CHECK(rows.targets == s.ref.read_ids(*s.ref.find("targets")));
  CHECK(rows.positions == s.ref.read_ids(*s.ref.find("positions")));
  size_t counted = 0;
  for (uint32_t t : rows.targets) counted += t != kIgnore;
  CHECK(rows.targets_counted == counted);
}

TEST_CASE("the masked loss and its gradients match PyTorch, packed conversations kept apart") {
  const SftReference s;
  train::ChatRows rows;
  train::make_chat_rows(s.records, rows);
  const double want = floats(s.ref, "loss")[0];
  Gpt<float> model(s.config);
  load_reference_params(s.ref, model);
  model.zero_grad();
  const double loss = model.forward_backward(rows.inputs.data(), rows.targets.data(), s.records.size(), rows.Tn, 1.0f,
                                             rows.positions.data());
  CHECK(std::abs(loss - want) / want < 1e-5);
  CHECK(worst_model_gradient(s.ref, model) < 1e-4);

  SUBCASE("in micro-batches weighted by their targets, on threads: the step's mean over all targets") {
    // As the next-token objective accumulates a step: micro-batch m's gradient scaled by its share of
    // the step's targets. Two threads share each micro-batch's sequences.
    model.zero_grad();
    GptReplicas<float> replicas(model, 2);
    std::vector<train::ChatRows> micro(2);
    train::make_chat_rows(std::span(s.records).first(1), micro[0]);
    train::make_chat_rows(std::span(s.records).subspan(1), micro[1]);
    const double total = double(micro[0].targets_counted + micro[1].targets_counted);
    double accumulated = 0;
    for (size_t m = 0; m < 2; ++m) {
      const double weight = double(micro[m].targets_counted) / total;
      const size_t B = micro[m].inputs.size() / micro[m].Tn;
      accumulated += weight * replicas.forward_backward(micro[m].inputs.data(), micro[m].targets.data(), B, micro[m].Tn,
                                                        float(weight), micro[m].positions.data());
    }
    replicas.reduce_grads();
    CHECK(std::abs(accumulated - want) / want < 1e-5);
    CHECK(worst_model_gradient(s.ref, model) < 1e-4);
  }
}
