// ConversationReader (simdjson, with parse_conversation behind it) against parse_conversation itself: the
// same conversation or the same error for every line, including the lines where the two JSON libraries
// could disagree.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "tok/conversation.h"

using namespace lmpipe;
using namespace lmpipe::tok;

namespace {

// What a reading gave: the conversation, or the error's text.
struct Outcome {
  Conversation conversation;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

template <typename Read>
Outcome outcome(Read read) {
  Outcome o;
  try {
    o.conversation = read();
  } catch (const Error& e) {
    o.error = e.what();
  }
  return o;
}

void check_same(ConversationReader& reader, const std::string& line, ChatFormat format, bool needs_assistant) {
  CAPTURE(line);
  const Outcome want = outcome([&] { return parse_conversation(line, format, needs_assistant); });
  const Outcome got = outcome([&] { return reader.read(line); });
  CHECK(got.error == want.error);
  CHECK(got.conversation == want.conversation);
}

}  // namespace

TEST_CASE("conversation lines read as the reference reads them") {
  const std::vector<std::string> messages_lines = {
      R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]})",
      R"({"messages":[{"role":"system","content":""},{"role":"user","content":""},{"role":"assistant","content":""}]})",
      // escapes, surrogate pairs, raw UTF-8, an escaped NUL
      R"({"messages": [{"role": "user", "content": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00 caf\u00e9 \u0000"}, {"role": "assistant", "content": "日本語 ☃"}]})",
      // a repeated key counts as its last value, in the object and in a message
      R"({"messages": [{"role": "user", "content": "x"}], "messages": [{"role": "assistant", "content": "y", "content": "z"}]})",
      R"({"messages": [{"role": "robot", "role": "assistant", "content": "ok"}]})",
      // other keys and values are ignored, however large or deep
      R"({"id": 12345678901234567890123, "meta": {"a": [1.5e300, null, true, {"b": []}]}, "messages": [{"role": "assistant", "content": "n", "name": "bot", "weight": 0}]})",
      R"(  {"messages": [{"role": "assistant", "content": "padded"}]}  )",
      // many turns
      R"({"messages": [{"role": "user", "content": "1"}, {"role": "assistant", "content": "2"}, {"role": "user", "content": "3"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "5"}, {"role": "assistant", "content": "6"}]})",
      // errors
      R"({"messages": [)",
      R"({"messages": []} trailing)",
      R"(["messages"])",
      R"({"message": []})",
      R"({"messages": {}})",
      R"({"messages": []})",
      R"({"messages": ["user"]})",
      R"({"messages": [{"content": "x"}]})",
      R"({"messages": [{"role": "assistant"}]})",
      R"({"messages": [{"role": "robot", "content": "x"}]})",
      R"({"messages": [{"role": "Assistant", "content": "x"}]})",
      R"({"messages": [{"role": "user", "content": 7}]})",
      R"({"messages": [{"role": "user", "content": null}]})",
      R"({"messages": [{"role": "user", "content": "x"}]})",
      R"({"messages": [{"role": "assistant", "content": "lone \udc00 low surrogate"}]})",
      R"({"messages": [{"role": "assistant", "content": "lone \ud800 high surrogate"}]})",
      R"({"messages": [{"role": "assistant", "content": "high then not low \ud800\u0041"}]})",
      R"({"messages": [{"role": "assistant", "content": "bad escape \x"}]})",
      R"({"messages": [{"role": "assistant", "content": "raw	tab"}]})",
      "{\"messages\": [{\"role\": \"assistant\", \"content\": \"invalid UTF-8 \xff\xfe\"}]}",
      "{\"messages\": [{\"role\": \"assistant\", \"content\": \"overlong \xc0\xaf\"}]}",
      "{\"messages\": [{\"role\": \"assistant\", \"content\": \"encoded surrogate \xed\xa0\x80\"}]}",
      R"({"messages": [{"role": "assistant", "content": "x"}],})",
      R"({'messages': []})",
      R"(NaN)",
      "",
  };
  ConversationReader reader(ChatFormat::kMessages), prompts(ChatFormat::kMessages, false);
  for (const std::string& line : messages_lines) {
    check_same(reader, line, ChatFormat::kMessages, true);
    check_same(prompts, line, ChatFormat::kMessages, false);
  }
  // A shorter conversation after a longer one leaves nothing of the longer behind.
  CHECK(reader.read(messages_lines[7]).size() == 6);
  CHECK(reader.read(messages_lines[0]) == Conversation{{"user", "Hi"}, {"assistant", "Hello!"}});

  const std::vector<std::string> alpaca_lines = {
      R"({"instruction": "Add.", "input": "2 and 3", "output": "5"})",
      R"({"instruction": "Say hi.", "output": "hi"})",
      R"({"instruction": "Say hi.", "input": "", "output": "hi"})",
      R"({"instruction": "Say hi.", "input": null, "output": "hi"})",
      R"({"instruction": "a", "input": "b", "input": "c", "output": "d"})",
      R"({"instruction": "Say hi.", "input": 3, "output": "hi"})",
      R"({"instruction": "Say hi."})",
      R"({"output": "hi"})",
      R"({"instruction": 1, "output": "hi"})",
      R"({"instruction": "x", "output": "\udc00"})",
  };
  ConversationReader alpaca(ChatFormat::kAlpaca);
  for (const std::string& line : alpaca_lines) check_same(alpaca, line, ChatFormat::kAlpaca, true);
}
