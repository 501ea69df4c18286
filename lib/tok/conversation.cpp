#include "tok/conversation.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "core/error.h"

namespace lmpipe::tok {
namespace {

std::string json_quoted(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const std::string& string_field(const nlohmann::json& object, const char* key, const char* where) {
  const auto it = object.find(key);
  if (it == object.end()) throw Error(fmt::format("{} has no \"{}\"", where, key));
  if (!it->is_string()) throw Error(fmt::format("{} \"{}\" is not a string", where, key));
  return it->get_ref<const std::string&>();
}

bool known_role(std::string_view role) { return role == "system" || role == "user" || role == "assistant"; }

// A JSON list of {"role", "content"} objects; what names one message in errors ("message 3").
Conversation messages_of(const nlohmann::json& messages, const char* what) {
  Conversation conversation;
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::json& m = messages[i];
    const std::string where = fmt::format("{} {}", what, i);
    if (!m.is_object()) throw Error(where + " is not an object");
    const std::string& role = string_field(m, "role", where.c_str());
    if (!known_role(role))
      throw Error(fmt::format("{} has role {}: not system, user or assistant", where, json_quoted(role)));
    conversation.push_back({role, string_field(m, "content", where.c_str())});
  }
  return conversation;
}

// The value of key in object: its last one, as in nlohmann::json's reading of a repeated key.
bool last_field(simdjson::dom::object object, std::string_view key, simdjson::dom::element& value) {
  bool found = false;
  for (const simdjson::dom::key_value_pair field : object) {
    if (field.key == key) {
      value = field.value;
      found = true;
    }
  }
  return found;
}

// A string field, in valid UTF-8: simdjson checks the input's bytes, and this checks what \u escapes
// decoded to (a lone surrogate is not a character; the reference rejects it).
bool string_field(simdjson::dom::object object, std::string_view key, std::string_view& value) {
  simdjson::dom::element e;
  return last_field(object, key, e) && !e.get_string().get(value) && simdjson::validate_utf8(value.data(), value.size());
}

}  // namespace

Conversation parse_conversation(std::string_view line, ChatFormat format, bool needs_assistant) {
  const nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) throw Error("not JSON (a conversation is one JSON object a line)");
  if (!j.is_object()) throw Error("not a JSON object");
  Conversation conversation;
  if (format == ChatFormat::kAlpaca) {
    std::string instruction = string_field(j, "instruction", "the record");
    const auto input = j.find("input");
    if (input != j.end() && !input->is_null()) {
      if (!input->is_string()) throw Error("the record's \"input\" is not a string");
      if (!input->get_ref<const std::string&>().empty()) instruction += "\n\n" + input->get<std::string>();
    }
    conversation.push_back({"user", std::move(instruction)});
    conversation.push_back({"assistant", string_field(j, "output", "the record")});
    return conversation;
  }
  const auto messages = j.find("messages");
  if (messages == j.end()) throw Error("no \"messages\"");
  if (!messages->is_array()) throw Error("\"messages\" is not a list");
  conversation = messages_of(*messages, "message");
  const bool assistant =
      std::any_of(conversation.begin(), conversation.end(), [](const Message& m) { return m.role == "assistant"; });
  if (!assistant && needs_assistant) throw Error("no assistant turn: nothing to learn from");
  return conversation;
}

ImageText parse_image_text(std::string_view line) {
  const nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) throw Error("not JSON (a picture and its text are one JSON object a line)");
  if (!j.is_object()) throw Error("not a JSON object");
  ImageText record;
  record.image = string_field(j, "image", "the record");
  if (record.image.empty()) throw Error("the record's \"image\" is empty");
  const int layouts = int(j.contains("text")) + int(j.contains("messages")) + int(j.contains("conversations"));
  if (layouts != 1)
    throw Error(layouts == 0 ? "no \"text\", \"messages\" or \"conversations\" with the image"
                             : "more than one of \"text\", \"messages\" and \"conversations\"");
  if (j.contains("text")) {
    record.is_caption = true;
    record.caption = string_field(j, "text", "the record");
    return record;
  }
  if (j.contains("messages")) {
    const nlohmann::json& messages = j["messages"];
    if (!messages.is_array()) throw Error("\"messages\" is not a list");
    record.conversation = messages_of(messages, "message");
  } else {
    const nlohmann::json& turns = j["conversations"];
    if (!turns.is_array()) throw Error("\"conversations\" is not a list");
    for (size_t i = 0; i < turns.size(); ++i) {
      const std::string where = fmt::format("conversation turn {}", i);
      if (!turns[i].is_object()) throw Error(where + " is not an object");
      const std::string& from = string_field(turns[i], "from", where.c_str());
      const char* role = from == "human" ? "user" : from == "gpt" ? "assistant" : from == "system" ? "system" : nullptr;
      if (role == nullptr)
        throw Error(fmt::format("{} is from {}: not human, gpt or system", where, json_quoted(from)));
      record.conversation.push_back({role, string_field(turns[i], "value", where.c_str())});
    }
  }
  if (std::none_of(record.conversation.begin(), record.conversation.end(),
                   [](const Message& m) { return m.role == "assistant"; }))
    throw Error("no assistant turn: nothing to learn from");
  return record;
}

PreferencePair parse_preference(std::string_view line, bool prompt_only) {
  const nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) throw Error("not JSON (a preference pair is one JSON object a line)");
  if (!j.is_object()) throw Error("not a JSON object");
  PreferencePair pair;
  const auto prompt = j.find("prompt");
  if (prompt == j.end()) throw Error("no \"prompt\"");
  if (prompt->is_string())
    pair.prompt.push_back({"user", prompt->get<std::string>()});
  else if (prompt->is_array())
    pair.prompt = messages_of(*prompt, "prompt message");
  else
    throw Error("\"prompt\" is neither a string nor a list of messages");
  if (prompt_only) return pair;
  // A completion: the assistant's text, or TRL's conversational layout, a list of that one assistant message.
  const auto completion = [&](const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) throw Error(fmt::format("no \"{}\"", key));
    if (it->is_string()) return it->get<std::string>();
    if (!it->is_array()) throw Error(fmt::format("\"{}\" is neither a string nor a list of messages", key));
    const Conversation c = messages_of(*it, fmt::format("{} message", key).c_str());
    if (c.size() != 1 || c[0].role != "assistant")
      throw Error(fmt::format("\"{}\" is not one assistant message (it has {} messages{})", key, c.size(),
                              c.size() == 1 ? fmt::format(", a {} one", c[0].role) : ""));
    return c[0].content;
  };
  pair.chosen = completion("chosen");
  pair.rejected = completion("rejected");
  if (pair.chosen == pair.rejected) throw Error("\"chosen\" and \"rejected\" are the same: nothing to prefer");
  return pair;
}

struct ConversationReader::Simd {
  simdjson::dom::parser parser;
};

ConversationReader::ConversationReader(ChatFormat format, bool needs_assistant)
    : format_(format), needs_assistant_(needs_assistant), simd_(std::make_unique<Simd>()) {}

ConversationReader::~ConversationReader() = default;

const Conversation& ConversationReader::read(std::string_view line) {
  if (!read_fast(line)) conversation_ = parse_conversation(line, format_, needs_assistant_);
  return conversation_;
}

bool ConversationReader::read_fast(std::string_view line) {
  simdjson::dom::element document;
  simdjson::dom::object top;
  if (simd_->parser.parse(line.data(), line.size()).get(document) || document.get_object().get(top)) return false;
  // Messages are overwritten in place, so their strings keep their capacity from line to line.
  size_t n = 0;
  const auto add = [&](std::string_view role, std::string_view content) {
    if (n == conversation_.size()) conversation_.emplace_back();
    conversation_[n].role.assign(role);
    conversation_[n].content.assign(content);
    ++n;
  };
  if (format_ == ChatFormat::kAlpaca) {
    std::string_view instruction, input, output;
    if (!string_field(top, "instruction", instruction) || !string_field(top, "output", output)) return false;
    add("user", instruction);
    simdjson::dom::element e;
    if (last_field(top, "input", e) && !e.is_null()) {
      if (!string_field(top, "input", input)) return false;
      if (!input.empty()) conversation_[0].content.append("\n\n").append(input);
    }
    add("assistant", output);
  } else {
    simdjson::dom::element e;
    simdjson::dom::array messages;
    if (!last_field(top, "messages", e) || e.get_array().get(messages)) return false;
    bool assistant = false;
    for (const simdjson::dom::element m : messages) {
      simdjson::dom::object message;
      std::string_view role, content;
      if (m.get_object().get(message) || !string_field(message, "role", role) || !known_role(role) ||
          !string_field(message, "content", content))
        return false;
      assistant |= role == "assistant";
      add(role, content);
    }
    if (!assistant && needs_assistant_) return false;
  }
  conversation_.resize(n);
  return true;
}

}  // namespace lmpipe::tok
