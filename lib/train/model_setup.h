#pragma once
// The model a run trains: a new one's shape from its preset and the shape flags, a checkpoint's checked
// against --arch, and the data checked against the model before any step.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "checkpoint/model_dir.h"
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

// The id a reward model pads with (config.json's pad_token_id): the data vocabulary's <|endoftext|>, else
// its padding or unknown token; UsageError when it has none of them.
uint32_t padding_id(const io::ShardHeader& header);

// A language model made a reward model, as InstructGPT starts its reward model from the SFT model with
// the unembedding removed: the decoder's weights kept, a score head N(0, 0.02) drawn from seed (as
// transformers initialises GPT2ForSequenceClassification's score).
void attach_score_head(checkpoint::LoadedModel& model, uint32_t pad_token_id, uint64_t seed);

// --arch llava's model: a LLaVA checkpoint as it is (--resume, --init-from one), or one assembled around a
// GPT-2 decoder (--init-from a GPT directory, grown to the data's vocabulary; or a new one of the shape
// flags): the vision tower from --init-vision-from or a new one of --vision's shape, --vision-feature-layer,
// a new --projector, the placeholder id the data's header names (make-images' image_token). New parts are
// drawn from seed. Throws UsageError for flags that do not fit the start.
checkpoint::LoadedModel llava_start(const PretrainOptions& o, std::optional<checkpoint::LoadedModel> loaded,
                                    const io::ShardHeader* data_header, float dropout, uint32_t data_vocab,
                                    size_t data_len);

// Training and validation shards must come from one vocabulary; throws UsageError naming both.
void check_same_vocabulary(const DataSet& data, const DataSet& val);

// When the data's vocabulary has more ids than the model and extends the model's (tok-train --extend:
// the model's tokens, then new ones), grows every tensor with a row per token (the token embedding, which
// the LM head shares) to the data's size, the new rows the mean of the old (transformers'
// resize_token_embeddings with mean_resizing). data_vocab_dir is the data's vocabulary ("" when unknown).
// Throws UsageError when the data's vocabulary does not extend the model's; a model directory without
// tokenizer files cannot say, and a warning says so (unless quiet). Returns whether the model grew.
bool grow_vocabulary(checkpoint::LoadedModel& model, const DataSet& data, const std::string& data_vocab_dir, bool quiet);

}  // namespace lmpipe::train
