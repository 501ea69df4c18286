#include "gen/generate.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "gen/text_stream.h"

namespace lmpipe::gen {

Generation generate(nn::GptDecoder<float>& decoder, const tok::Vocab& vocab, std::span<const uint32_t> prompt,
                    const GenerateOptions& options, Rng& rng, const std::function<void(std::string_view)>& on_text) {
  if (prompt.empty()) throw Error("generate: empty prompt");
  const bool fixed = decoder.has_input_embeddings();  // a picture's rows: no dropping, no sliding
  if (fixed && prompt.size() > decoder.capacity())
    throw Error(fmt::format("a prompt of {} ids with its picture, more than the model's {} positions", prompt.size(),
                            decoder.capacity()));
  Sampler sampler(options.sampler);
  TextStream stream(options.stop);
  const size_t capacity = decoder.capacity();
  Generation out;
  out.prompt_tokens = std::min(prompt.size(), capacity);
  out.dropped_prompt_tokens = prompt.size() - out.prompt_tokens;
  // Every token the model has seen, the window the cache is rebuilt from when it is full.
  std::vector<uint32_t> window(prompt.end() - std::ptrdiff_t(out.prompt_tokens), prompt.end());
  // The model may have more outputs than the tokenizer has tokens (a vocabulary padded to a round
  // size): those are never sampled. Fewer is refused.
  if (decoder.vocab_size() < vocab.size()) throw Error("generate: the model has fewer outputs than the vocabulary has tokens");
  std::vector<float> logits(decoder.vocab_size());
  const std::span<const float> sampled(logits.data(), vocab.size());
  decoder.reset();
  decoder.append(window.data(), window.size(), logits.data());
  out.finish_reason = "length";
  const auto emit = [&](std::string_view text) {
    if (!text.empty()) on_text(text);
  };
  for (size_t i = 0; i < options.max_new_tokens; ++i) {
    const uint32_t token = sampler.next(sampled, rng);
    if (std::find(options.end_tokens.begin(), options.end_tokens.end(), token) != options.end_tokens.end()) {
      out.finish_reason = "end";
      break;
    }
    out.ids.push_back(token);
    const bool stopped = stream.push(vocab.token_bytes(token));
    emit(stream.take());
    if (stopped) {
      out.finish_reason = "stop";
      break;
    }
    if (i + 1 == options.max_new_tokens) break;  // no logits needed after the last token
    window.push_back(token);
    if (decoder.position() < capacity) {
      decoder.append(&token, 1, logits.data());
    } else if (fixed) {
      break;  // the context is full and the picture cannot move
    } else {
      const size_t keep = std::max<size_t>(capacity / 2, 1);
      decoder.reset();
      decoder.append(window.data() + window.size() - keep, keep, logits.data());
    }
  }
  emit(stream.finish());
  out.text = stream.text();
  return out;
}

}  // namespace lmpipe::gen
