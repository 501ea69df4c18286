#pragma once
// The model a run trains: a new one's shape from its preset and the shape flags, a checkpoint's checked
// against --arch, and the data checked against the model before any step.
#include <cstdint>
#include <string>
#include <string_view>

#include "nn/model_config.h"
#include "train/pretrain.h"
#include "train/training_data.h"

namespace lmpipe::train {

// The shape of a new model: --preset (or the arch's default) with the shape flags over it, the
// vocabulary the data's unless --vocab-size, the positions at least the data's sequences. Throws
// UsageError for a preset of another architecture and for shapes that cannot work.
nn::ModelConfig model_from_flags(const PretrainOptions& o, float dropout, uint32_t data_vocab, size_t data_len);

// A checkpoint's model must be one --arch trains; throws UsageError naming the directory.
void check_arch(const nn::ModelConfig& config, const std::string& arch, const std::string& dir);

// Every id of the data must be a row of the model's embeddings and every sequence must fit its positions;
// throws UsageError naming the flag (--data, --val) and the file.
void check_data_fits(const DataSet& data, const nn::ModelConfig& config, std::string_view flag);

// Training and validation shards must come from one vocabulary; throws UsageError naming both.
void check_same_vocabulary(const DataSet& data, const DataSet& val);

}  // namespace lmpipe::train
