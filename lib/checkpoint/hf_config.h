#pragma once
// config.json as transformers writes and reads it, for every model lmpipe trains: GPT2Config,
// OpenAIGPTConfig, BertConfig, RobertaConfig and LlavaConfig keys, so that from_pretrained loads our checkpoints and
// we load theirs.
#include <string>

#include <nlohmann/json.hpp>

#include "nn/model_config.h"

namespace lmpipe::checkpoint {

// The config.json of a model of this shape.
nlohmann::ordered_json to_hf_config(const nn::ModelConfig& config);

// The shape config.json describes, by its model_type. Throws Error "WHERE: config.json: ..." naming the
// key and what is wrong with its value (missing, not a whole number, negative, a variant lmpipe does
// not compute).
nn::ModelConfig from_hf_config(const nlohmann::json& config, const std::string& where);

// preprocessor_config.json of a vision tower: CLIPImageProcessor's settings that give its pixels (the
// shortest side to the tower's size, bicubic, the centred square, rescaled by 1/255, CLIP's mean and
// deviation), which make-images and the model reproduce.
nlohmann::ordered_json preprocessor_config(const nn::VisionConfig& vision);

// The vision tower a CLIP config.json describes: CLIPVisionModel's (model_type clip_vision_model) or
// CLIPModel's vision_config (model_type clip). Throws Error as from_hf_config does.
nn::VisionConfig from_clip_config(const nlohmann::json& config, const std::string& where);

}  // namespace lmpipe::checkpoint
