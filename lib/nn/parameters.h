#pragma once
// Where each named tensor lives in a model's one contiguous parameter buffer. Names, shapes and order
// are HuggingFace's (GPT2LMHeadModel, BertForPreTraining, ...), so a checkpoint is the buffer written out
// tensor by tensor; the gradient and the optimizer moments use the same layout in buffers of their own.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace lmpipe::nn {

struct TensorInfo {
  std::string name;
  std::vector<size_t> shape;
  size_t offset = 0;  // in elements
  size_t size = 0;
  bool decay = false;  // weight decay applies (matrices; not biases, layer norms or embeddings)
  bool frozen = false;  // not trained: the optimizer neither updates it nor keeps moments for it
};

class ParameterLayout {
 public:
  // Appends a tensor after the previous ones; returns its offset.
  size_t add(std::string name, std::vector<size_t> shape, bool decay) {
    TensorInfo t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.size = 1;
    for (size_t d : t.shape) t.size *= d;
    t.offset = total_;
    t.decay = decay;
    total_ += t.size;
    tensors_.push_back(std::move(t));
    return tensors_.back().offset;
  }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Marks the tensors whose names start with prefix frozen (or not); returns how many it marked.
  size_t set_frozen(const std::string& prefix, bool frozen = true) {
    size_t n = 0;
    for (TensorInfo& t : tensors_)
      if (t.name.starts_with(prefix)) {
        t.frozen = frozen;
        ++n;
      }
    return n;
  }
  size_t total() const { return total_; }
  // The elements from the first tensor not frozen to the end of the last one ({0, 0} when all are): the
  // range a model keeps gradients for and the optimizer updates (a frozen tensor inside it has zeros).
  std::pair<size_t, size_t> trained_range() const {
    size_t begin = total_, end = 0;
    for (const TensorInfo& t : tensors_)
      if (!t.frozen) {
        begin = std::min(begin, t.offset);
        end = std::max(end, t.offset + t.size);
      }
    return begin < end ? std::pair(begin, end) : std::pair<size_t, size_t>(0, 0);
  }
  const TensorInfo* find(const std::string& name) const {
    for (const TensorInfo& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }

 private:
  std::vector<TensorInfo> tensors_;
  size_t total_ = 0;
};

}  // namespace lmpipe::nn
