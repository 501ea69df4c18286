#include "gen/vision_sample.h"

#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "core/input_file.h"
#include "gen/chat.h"
#include "gen/file_lines.h"
#include "gen/generate.h"
#include "image/clip_resize.h"
#include "image/image_decoder.h"
#include "nn/gpt_decoder.h"
#include "nn/llava.h"
#include "nn/runtime.h"
#include "tok/chat_template.h"
#include "tok/conversation.h"
#include "tok/tokenizer.h"

namespace lmpipe::gen {
namespace {

// A LLaVA checkpoint ready to answer: the model, the decoder over its language model, the tokenizer.
struct VisionGenerator {
  std::unique_ptr<nn::Llava<float>> model;
  std::unique_ptr<nn::GptDecoder<float>> decoder;
  std::unique_ptr<nn::Bf16Copy> weights_bf16;  // what the bf16 products read (--precision bf16)
  std::unique_ptr<tok::Tokenizer> tokenizer;
  uint32_t placeholder = 0;
  std::string placeholder_text;
  std::vector<uint32_t> end_tokens;
};

VisionGenerator load_vision_generator(const SampleOptions& o) {
  checkpoint::LoadedModel loaded = checkpoint::load_model_dir(o.checkpoint);
  const auto* config = std::get_if<nn::LlavaConfig>(&loaded.config);
  if (config == nullptr) throw Error(fmt::format("{}: not a LLaVA model", o.checkpoint));
  VisionGenerator g;
  g.model = std::make_unique<nn::Llava<float>>(*config, nn::ModelBuffers::kInference);
  std::copy(loaded.params.begin(), loaded.params.end(), g.model->params().begin());
  g.decoder = std::make_unique<nn::GptDecoder<float>>(g.model->language());
  g.weights_bf16 = nn::copy_for_bf16_products(g.model->params().data(), g.model->params().size());
  g.tokenizer = tok::Tokenizer::load(o.vocab.empty() ? loaded.dir : o.vocab);
  const tok::Vocab& vocab = g.tokenizer->vocab();
  if (vocab.size() > config->text.vocab_size)
    throw Error(fmt::format("{}: the tokenizer has {} tokens, the model {}", o.checkpoint, vocab.size(),
                            config->text.vocab_size));
  g.placeholder = config->image_token;
  if (g.placeholder >= vocab.size())
    throw Error(fmt::format("{}: the tokenizer has no token {}, the model's picture placeholder", o.checkpoint,
                            g.placeholder));
  g.placeholder_text = vocab.tokens[g.placeholder];
  const auto specials = vocab.special_ids();
  if (const auto eot = specials.find("eot"); eot != specials.end()) g.end_tokens.push_back(eot->second);
  return g;
}

// A picture file's pixels as make-images stores them, at the vision tower's size.
std::vector<uint8_t> picture_pixels(const std::string& path, size_t size) {
  const std::string bytes = read_file(path);
  image::RgbImage decoded, cropped;
  try {
    image::decode_image({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, {}, decoded);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
  image::clip_resize_crop(decoded, uint32_t(size), cropped);
  return std::move(cropped.pixels);
}

// Generates from prompt ids holding at most one placeholder, which stands for the picture (none: a text
// prompt): the placeholder expanded to the picture's patches and their embeddings put there.
Generation generate_with_picture(VisionGenerator& g, std::vector<uint32_t> ids, const std::vector<uint8_t>* pixels,
                                 const GenerateOptions& options, Rng& rng,
                                 const std::function<void(std::string_view)>& on_text) {
  const size_t patches = g.model->config().vision.patches();
  std::vector<uint32_t> positions;
  const auto at = std::find(ids.begin(), ids.end(), g.placeholder);
  if (at != ids.end()) {
    if (pixels == nullptr) throw Error(fmt::format("the prompt has {} but no picture is given", g.placeholder_text));
    if (std::count(ids.begin(), ids.end(), g.placeholder) != 1)
      throw Error(fmt::format("the prompt has more than one {}: one picture a prompt", g.placeholder_text));
    const auto first = size_t(at - ids.begin());
    ids.insert(at, patches - 1, g.placeholder);
    for (size_t p = 0; p < patches; ++p) positions.push_back(uint32_t(first + p));
  }
  const float* embeddings = positions.empty() ? nullptr : g.model->picture_embeddings(pixels->data(), 1);
  g.decoder->set_input_embeddings(embeddings, positions.data(), positions.size());
  Generation out = generate(*g.decoder, g.tokenizer->vocab(), ids, options, rng, on_text);
  g.decoder->set_input_embeddings(nullptr, nullptr, 0);
  return out;
}

void write_json(ByteSink& out, const nlohmann::ordered_json& j) {
  write_text(out, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  out.flush();
}

// --image FILE [--prompt TEXT]: the picture, the text after it, continued.
void run_caption(const SampleOptions& o, VisionGenerator& g, ByteSink& out) {
  const std::vector<uint8_t> pixels = picture_pixels(o.image, g.model->config().vision.image_size);
  std::vector<uint32_t> ids{g.placeholder};
  g.tokenizer->session()->encode(o.prompt.value_or(""), ids);
  GenerateOptions options = o.generate;
  options.end_tokens = g.end_tokens;
  for (size_t s = 0; s < o.num_samples; ++s) {
    Rng rng(o.seed, {0, s});
    if (!o.json && s > 0) write_text(out, "---------------\n");
    const Generation r = generate_with_picture(g, ids, &pixels, options, rng, [&](std::string_view text) {
      if (o.json) return;
      write_text(out, text);
      out.flush();
    });
    if (o.json) {
      write_json(out, {{"image", o.image}, {"prompt", o.prompt.value_or("")}, {"sample", s}, {"text", r.text},
                       {"ids", r.ids}, {"finish_reason", r.finish_reason}, {"prompt_tokens", r.prompt_tokens}});
    } else {
      write_text(out, "\n");
      out.flush();
    }
  }
}

// The ids of a conversation's prompt in ChatML with the placeholder recognised, for the reply to follow.
std::vector<uint32_t> chat_prompt(VisionGenerator& g, const tok::ChatMlTemplate& chat_template,
                                  const tok::Conversation& conversation) {
  const tok::Placeholder placeholder{g.placeholder_text, g.placeholder};
  tok::ChatTokens tokens;
  const auto session = g.tokenizer->session();
  chat_template.render(conversation, *session, tokens, &placeholder);
  tokens.ids.push_back(chat_template.start_id());
  session->encode("assistant\n", tokens.ids);
  return tokens.ids;
}

// --messages FILE: a reply to the last user turn of each line, its picture relative to the file.
void run_image_messages(const SampleOptions& o, VisionGenerator& g, const tok::ChatMlTemplate& chat_template,
                        const GenerateOptions& options, ByteSink& out) {
  const std::filesystem::path base = std::filesystem::path(o.messages_file).parent_path();
  uint64_t index = 0;
  for_each_file_line(o.messages_file, [&](std::string_view line, size_t line_number) {
    std::string image;
    tok::Conversation conversation;
    std::vector<uint8_t> pixels;
    std::vector<uint32_t> ids;
    try {
      const nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
      if (j.is_object() && j.contains("image")) {
        const tok::ImageText record = tok::parse_image_text(line);
        if (record.is_caption) throw Error("a caption, not a conversation to answer");
        image = record.image;
        conversation = record.conversation;
      } else {
        conversation = tok::parse_conversation(line, tok::ChatFormat::kMessages, false);
      }
      while (!conversation.empty() && conversation.back().role != "user") conversation.pop_back();
      if (conversation.empty()) throw Error("no user turn to answer");
      if (!o.system.empty() && conversation.front().role != "system")
        conversation.insert(conversation.begin(), tok::Message{"system", o.system});
      if (!image.empty())
        pixels = picture_pixels(std::filesystem::path(image).is_absolute() ? image : (base / image).string(),
                                g.model->config().vision.image_size);
      ids = chat_prompt(g, chat_template, conversation);
    } catch (const Error& e) {
      throw Error(fmt::format("{}:{}: {}", o.messages_file, line_number, e.what()));
    }
    Rng rng(o.seed, {index++});
    Generation r;
    try {
      r = generate_with_picture(g, ids, image.empty() ? nullptr : &pixels, options, rng, [](std::string_view) {});
    } catch (const Error& e) {
      throw Error(fmt::format("{}:{}: {}", o.messages_file, line_number, e.what()));
    }
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    for (const tok::Message& m : conversation) messages.push_back({{"role", m.role}, {"content", m.content}});
    nlohmann::ordered_json j;
    if (!image.empty()) j["image"] = image;
    j["messages"] = messages;
    j["reply"] = r.text;
    j["ids"] = r.ids;
    j["finish_reason"] = r.finish_reason;
    write_json(out, j);
  });
}

// --image FILE --chat: a conversation about the picture, a user turn a line of stdin.
void run_image_chat(const SampleOptions& o, VisionGenerator& g, const tok::ChatMlTemplate& chat_template,
                    const GenerateOptions& options, ByteSink& out) {
  const std::vector<uint8_t> pixels = picture_pixels(o.image, g.model->config().vision.image_size);
  tok::Conversation conversation;
  if (!o.system.empty()) conversation.push_back({"system", o.system});
  for_each_user_turn(o.quiet, [&](const std::string& line, uint64_t turn) {
    conversation.push_back({"user", turn == 0 ? g.placeholder_text + "\n" + line : line});
    Rng rng(o.seed, {turn});
    const Generation r = generate_with_picture(g, chat_prompt(g, chat_template, conversation), &pixels, options, rng,
                                               [&](std::string_view text) {
                                                 write_text(out, text);
                                                 out.flush();
                                               });
    write_text(out, "\n");
    out.flush();
    conversation.push_back({"assistant", r.text});
  });
}

}  // namespace

void run_vision_sample(const SampleOptions& o, ByteSink& out) {
  if (!o.prompt_file.empty() || !o.batch_file.empty() || !o.shots_file.empty() || !o.template_text.empty() || o.echo)
    throw UsageError("a LLaVA checkpoint takes --image with --prompt or --chat, or --messages (not --prompt-file, "
                     "--batch-file, --shots, --template or --echo)");
  if (o.messages_file.empty() && o.image.empty())
    throw UsageError(fmt::format("{} holds a LLaVA model: give a picture with --image (or --messages)", o.checkpoint));
  if (!o.messages_file.empty() && !o.image.empty())
    throw UsageError("--messages names each line's picture itself; --image is for --prompt and --chat");
  o.generate.sampler.validate();
  nn::set_compute_threads(o.threads);
  VisionGenerator g = load_vision_generator(o);
  if (!o.chat && o.messages_file.empty()) return run_caption(o, g, out);
  const tok::ChatMlTemplate chat_template = chat_template_for(*g.tokenizer, o.checkpoint);
  GenerateOptions options = o.generate;
  options.end_tokens = g.end_tokens;
  options.end_tokens.push_back(chat_template.end_id());
  if (!o.messages_file.empty()) return run_image_messages(o, g, chat_template, options, out);
  run_image_chat(o, g, chat_template, options, out);
}

}  // namespace lmpipe::gen
