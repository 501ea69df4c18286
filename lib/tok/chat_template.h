#pragma once
// Conversations (tok/conversation.h) in their layout in ChatML, the template HuggingFace chat models use:
//   <|im_start|>{role}\n{content}<|im_end|>\n   for each message
// with a loss mask that is 1 on what the assistant says (and the <|im_end|> closing it) and 0 on the
// rest, as InstructGPT's supervised fine-tuning trains only on the demonstrations.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tok/conversation.h"
#include "tok/tokenizer.h"

namespace lmpipe::tok {

// The ids of rendered conversations, and one loss-mask byte per id.
struct ChatTokens {
  std::vector<uint32_t> ids;
  std::vector<uint8_t> loss_mask;
};

// A special token that stands in message contents for something that is not text (a picture's
// embeddings): where its text occurs, its id goes into the ids (loss mask 0), and the text on either side
// encodes apart, as a tokenizer that knows the token as special splits there.
struct Placeholder {
  std::string_view text;
  uint32_t id = 0;
};

class ChatMlTemplate {
 public:
  static constexpr std::string_view kStart = "<|im_start|>", kEnd = "<|im_end|>";
  // The template in Jinja, as transformers' apply_chat_template runs it (tokenizer_config.json's
  // chat_template): {% generation %} marks what return_assistant_tokens_mask returns, and
  // add_generation_prompt opens the assistant's turn.
  static const std::string_view kJinja;

  // Throws Error when the vocabulary lacks the markers, with the command that adds them.
  explicit ChatMlTemplate(const Tokenizer& tokenizer);

  // Appends the conversation's ids and mask. The text of each message, "{role}\n{content}", is encoded
  // as one piece, as tokenizing the rendered template does; a token that holds bytes of an assistant's
  // content is a target even when it starts in the "\n" before it. Marker strings inside contents are
  // text (the tokenizer must not recognise special tokens in text), so no content can forge a turn.
  // With a placeholder, its text in contents becomes its id; without, it is text like any other.
  void render(const Conversation& conversation, Tokenizer::Session& session, ChatTokens& out,
              const Placeholder* placeholder = nullptr) const;

  // Appends the ids of a prompt: the conversation, then "<|im_start|>assistant\n" for the reply to follow.
  void render_prompt(const Conversation& conversation, Tokenizer::Session& session, std::vector<uint32_t>& ids) const;

  // Appends the ids of an assistant's reply to a render_prompt prompt: its content, then <|im_end|>, where a
  // generated reply ends (the "\n" the template puts after it belongs to the next turn). The content
  // encodes on its own, as TRL tokenizes a completion apart from its prompt.
  void render_reply(std::string_view content, Tokenizer::Session& session, std::vector<uint32_t>& ids) const;

  // tokenizer_config.json and special_tokens_map.json (name, contents) for a model directory that
  // speaks this template, so that transformers' AutoTokenizer loads its chat_template, ends replies at
  // <|im_end|> (eos_token) and knows the markers as special.
  std::vector<std::pair<std::string, std::string>> hf_tokenizer_files(size_t model_max_length) const;

  uint32_t start_id() const { return start_; }
  uint32_t end_id() const { return end_; }

 private:
  // Appends the ids and mask of text's bytes [offset, offset + piece.size()) of one message's
  // "{role}\n{content}", whose first prefix bytes are the role's.
  void encode_piece(std::string_view piece, size_t offset, size_t prefix, bool target, Tokenizer::Session& session,
                    ChatTokens& out) const;

  const Vocab& vocab_;
  uint32_t start_ = 0, end_ = 0;
  std::vector<uint32_t> newline_ids_;      // "\n" after <|im_end|>
  std::vector<uint32_t> token_bytes_;      // byte-level BPE: the bytes each token stands for
};

}  // namespace lmpipe::tok
