#pragma once
// The generation loop: a prompt through the KV-cached decoder, then a sampled token at a time until
// the end-of-text token, a stop string or the token limit, the text streamed as it becomes final.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.h"
#include "gen/sampler.h"
#include "nn/gpt_decoder.h"
#include "tok/vocab.h"

namespace lmpipe::gen {

struct GenerateOptions {
  size_t max_new_tokens = 256;
  SamplerOptions sampler;
  std::vector<std::string> stop;       // stop strings (not part of the text)
  std::vector<uint32_t> end_tokens;    // <|endoftext|>, a chat's <|im_end|>: generating one ends the text
};

struct Generation {
  std::vector<uint32_t> ids;   // the generated tokens (the end token excluded)
  std::string text;            // their text, cut before a stop string
  std::string finish_reason;   // "end" (an end token), "stop" (a stop string) or "length"
  size_t prompt_tokens = 0;    // prompt tokens the model saw
  size_t dropped_prompt_tokens = 0;  // cut from the left of the prompt to fit the context
};

// Continues prompt (not empty: an unconditional sample starts from the end-of-text token). A prompt
// longer than the context keeps its last tokens (Generation::dropped_prompt_tokens says how many went).
// When the context fills up, its older half is dropped and the cache rebuilt from the newer half, so
// generation can go on past the context length; unless the decoder has input embeddings (a picture's),
// which are at fixed positions: then a prompt must fit the context, and generation ends ("length") when
// the context is full. on_text receives each piece of final text.
Generation generate(nn::GptDecoder<float>& decoder, const tok::Vocab& vocab, std::span<const uint32_t> prompt,
                    const GenerateOptions& options, Rng& rng, const std::function<void(std::string_view)>& on_text);

}  // namespace lmpipe::gen
