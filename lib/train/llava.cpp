// LLaVA's objective (Liu et al. 2023; 2310.03744 for 1.5) on images shards (make-images): each record's
// picture goes through the vision tower and the projector into the decoder where its placeholder is
// (expanded to the picture's patches, train/image_batch.h), and the loss is the mean cross-entropy of the
// text the loss mask marks (a caption, or the assistant's replies) over the whole step. --freeze says
// which parts stay as they are: the vision tower in both of LLaVA's stages, the decoder too in the first;
// their tensors are marked frozen in the layout the optimizer gets, so it keeps no moments for them, and the
// model keeps gradients for the trained range alone (the loop reduces, clips and applies those).
#include <algorithm>
#include <memory>
#include <span>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/llava.h"
#include "train/image_batch.h"
#include "train/objective.h"

namespace lmpipe::train {
namespace {

class LlavaObjective final : public Objective {
 public:
  explicit LlavaObjective(const ObjectiveSetup& s) : shape_(s.shape), world_(s.world) {
    const auto* config = std::get_if<nn::LlavaConfig>(&s.config);
    if (config == nullptr)
      throw UsageError(fmt::format("--objective llava trains a LLaVA model (--arch llava), not a {} model",
                                   nn::model_type(s.config)));
    config_ = *config;
    const std::string& f = s.options.freeze;
    frozen_.vision = f == "vision" || f == "vision,lm" || f == "lm,vision";
    frozen_.language = f == "vision,lm" || f == "lm,vision";
    if (f != "none" && !frozen_.vision)
      throw UsageError(fmt::format("--freeze {}: give vision, vision,lm or none", f));
    layout_ = nn::llava_layout(config_, frozen_);
  }

  nlohmann::ordered_json dry_run(size_t T) const override {
    const size_t micro = shape_.micro, Tn = T + config_.vision.patches();
    const nn::VisionConfig& v = config_.vision;
    // The decoder's activations at the expanded length, the vision tower's for one picture a sequence (a
    // frozen tower's two layers' arrays serve them all).
    const size_t layers = frozen_.vision ? std::min<size_t>(2, v.layers_run()) : v.layers_run();
    const uint64_t vision_floats =
        uint64_t(micro) * v.positions() * (layers * (10 * v.d_model + 2 * v.d_ff) + 6 * v.d_model);
    const uint64_t activations = (config_.text.activation_floats(micro, Tn) + vision_floats) * 4;
    nlohmann::ordered_json j = dry_run_json(config_.text, config_.parameter_count(), micro, Tn, activations);
    uint64_t trained = 0, language = 0;
    for (const nn::TensorInfo& t : layout_.tensors()) {
      trained += t.frozen ? 0 : t.size;
      language += t.name.starts_with("language_model.") ? t.size : 0;
    }
    // Gradients for the trained range (and a frozen decoder's scratch), AdamW's moments for the trained
    // tensors only.
    const auto [begin, end] = layout_.trained_range();
    const uint64_t grads = end - begin + (frozen_.language ? language : 0);
    j["parameters_trained"] = trained;
    j["bytes_grads_and_adamw"] = grads * 4 + trained * 8;
    j["bytes_total"] = config_.parameter_count() * 4 + grads * 4 + trained * 8 + activations;
    return j;
  }

  void build(std::optional<nn::Buffer<float>> loaded, uint64_t seed) override {
    model_ = std::make_unique<nn::Llava<float>>(config_, nn::ModelBuffers::kTraining, frozen_);
    if (loaded) {
      if (loaded->size() != model_->params().size()) throw Error("a LLaVA checkpoint of another size than its layout");
      std::copy(loaded->begin(), loaded->end(), model_->params().begin());
    } else {
      model_->init(seed);
    }
  }
  nn::Buffer<float>& params() override { return model_->params(); }
  nn::Buffer<float>& grads() override { return model_->grads(); }
  const nn::ParameterLayout& layout() const override { return layout_; }

  void fetch(RecordLoader& loader, size_t, uint64_t, uint64_t) override {
    loss_ = 0;
    const std::vector<ImageRecord> records = take_image_records(loader, shape_.share, config_.vision.image_size);
    rows_.resize(shape_.accumulation);
    step_targets_ = 0;
    step_cut_ = 0;
    for (size_t m = 0; m < shape_.accumulation; ++m) {
      make_image_rows(std::span(records).subspan(m * shape_.micro, shape_.micro), config_.image_token,
                      config_.vision.patches(), config_.text.max_len, rows_[m]);
      step_targets_ += double(rows_[m].targets_counted);
      step_cut_ += rows_[m].cut;
    }
    world_.allreduce_sum(&step_targets_, 1);
  }

  void forward_backward(size_t m, uint64_t dropout_key) override {
    const ImageRows& r = rows_[m];
    if (step_targets_ == 0) return;
    // Each micro-batch's mean, weighted by its share of the step's targets: the step's mean over them all.
    const double weight = double(r.targets_counted) / step_targets_;
    model_->language().set_dropout_key(dropout_key);
    loss_ += weight * model_->forward_backward(r.pixels.data(), r.pictures, r.inputs.data(), r.targets.data(),
                                               shape_.micro, r.Tn, float(weight));
  }

  std::optional<double> gather_gradients() override { return std::nullopt; }
  std::span<double> step_sums() override { return {&loss_, 1}; }
  double step_loss() const override { return loss_; }
  void log_step(nlohmann::json& record) const override {
    record["loss"] = loss_;
    record["targets"] = uint64_t(step_targets_);
    if (step_cut_) record["cut"] = step_cut_;  // records that lost their end to the decoder's positions (this rank's)
  }

  void eval_start() override { eval_sums_[0] = eval_sums_[1] = 0; }

  void eval_batch(RecordLoader& loader, size_t n, size_t, uint64_t) override {
    make_image_rows(take_image_records(loader, n, config_.vision.image_size), config_.image_token,
                    config_.vision.patches(), config_.text.max_len, eval_rows_);
    if (eval_rows_.targets_counted == 0) return;
    eval_sums_[0] += model_->forward(eval_rows_.pixels.data(), eval_rows_.pictures, eval_rows_.inputs.data(),
                                     eval_rows_.targets.data(), n, eval_rows_.Tn) *
                     double(eval_rows_.targets_counted);
    eval_sums_[1] += double(eval_rows_.targets_counted);
  }

  std::span<double> eval_sums() override { return eval_sums_; }

  Evaluation evaluation() const override { return cross_entropy_evaluation(eval_sums_[0], eval_sums_[1]); }

 private:
  nn::LlavaConfig config_;
  StepShape shape_;
  Distributed& world_;
  nn::Frozen frozen_;
  nn::ParameterLayout layout_;  // llava_layout with the frozen parts marked
  std::unique_ptr<nn::Llava<float>> model_;
  std::vector<ImageRows> rows_;  // the step's micro-batches
  double step_targets_ = 0;      // the targets of the step's micro-batches on every rank
  size_t step_cut_ = 0;          // this rank's records cut to the decoder's positions
  double loss_ = 0;
  ImageRows eval_rows_;
  double eval_sums_[2] = {0, 0};  // loss x targets, targets
};

}  // namespace

std::unique_ptr<Objective> make_llava(const ObjectiveSetup& setup) { return std::make_unique<LlavaObjective>(setup); }

}  // namespace lmpipe::train
