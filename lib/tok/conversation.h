#pragma once
// Conversations as people store them, one JSON object a line: OpenAI / HuggingFace "messages", or
// Alpaca's instruction records.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lmpipe::tok {

struct Message {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
  bool operator==(const Message&) const = default;
};
using Conversation = std::vector<Message>;

enum class ChatFormat {
  kMessages,  // {"messages": [{"role": ..., "content": ...}, ...]}
  kAlpaca,    // {"instruction": ..., "input": ..., "output": ...}: the user says the instruction (and the
              // input after a blank line, when there is one), the assistant the output
};

// One JSON line as a conversation. Throws Error saying what is wrong (no place: the caller knows the
// line): not JSON, no messages, an unknown role, a content that is not a string, no assistant turn (when
// needs_assistant: a conversation to learn from; a prompt has none). A key given twice counts as its last
// value. This is the reference reading; ConversationReader gives the same results faster.
Conversation parse_conversation(std::string_view line, ChatFormat format, bool needs_assistant = true);

// A preference pair as TRL's preference data sets (and Anthropic's HH-RLHF, split) store it:
//   {"prompt": P, "chosen": C, "rejected": R}
// P a string (the user's turn) or a list of messages; C and R strings (the assistant's reply) or lists
// of that one assistant message.
struct PreferencePair {
  Conversation prompt;
  std::string chosen, rejected;
};

// One JSON line as a preference pair. Throws Error saying what is wrong: as parse_conversation, a prompt
// or completion of another type, a completion of other messages than one assistant's, chosen and
// rejected the same. prompt_only: only the prompt is read (chosen and rejected may be absent).
PreferencePair parse_preference(std::string_view line, bool prompt_only = false);

// A picture and a text about it, one JSON object a line, in the layouts of LLaVA's data sets:
//   {"image": PATH, "text": CAPTION}                             a caption (LLaVA's stage-1 pairs)
//   {"image": PATH, "messages": [{"role", "content"}, ...]}      a chat whose turns mention the picture
//   {"image": PATH, "conversations": [{"from", "value"}, ...]}   LLaVA's own chats ("human", "gpt", "system")
// Where the chat mentions the picture (a placeholder such as <image>) is the caller's to check.
struct ImageText {
  std::string image;          // the path as the line gives it
  bool is_caption = false;
  std::string caption;        // is_caption
  Conversation conversation;  // otherwise: with an assistant turn
};

// One JSON line as an ImageText. Throws Error saying what is wrong: not JSON, no "image" string, neither or
// more than one of "text", "messages" and "conversations", and the errors of parse_conversation.
ImageText parse_image_text(std::string_view line);

// Reads conversation lines as parse_conversation does, at the speed of simdjson: a line it parses into a
// well-formed conversation is taken from there, and any other line is handed to parse_conversation, so
// that the results and the errors are the reference's. One reader a thread (it holds simdjson's buffers).
class ConversationReader {
 public:
  explicit ConversationReader(ChatFormat format, bool needs_assistant = true);
  ~ConversationReader();
  ConversationReader(const ConversationReader&) = delete;
  ConversationReader& operator=(const ConversationReader&) = delete;

  // The line's conversation, valid until the next call. Throws Error as parse_conversation does.
  const Conversation& read(std::string_view line);

 private:
  struct Simd;
  // Fills conversation_ and returns true when the line is a well-formed conversation.
  bool read_fast(std::string_view line);

  ChatFormat format_;
  bool needs_assistant_;
  std::unique_ptr<Simd> simd_;
  Conversation conversation_;
};

}  // namespace lmpipe::tok
