#include "gen/chat.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/input_file.h"
#include "gen/file_lines.h"
#include "gen/generate.h"
#include "tok/chat_template.h"

namespace lmpipe::gen {
namespace {

// The prompt ids of a conversation that fit the context with room for max_new_tokens (at least half the
// context for the reply at most): the oldest turns after the system message go first. Returns how many
// messages were dropped.
size_t fit_prompt(tok::Conversation& conversation, const tok::ChatMlTemplate& chat_template,
                  tok::Tokenizer::Session& session, size_t capacity, size_t max_new_tokens, std::vector<uint32_t>& ids) {
  const size_t room = capacity - std::min(max_new_tokens, capacity / 2);
  size_t dropped = 0;
  for (;;) {
    ids.clear();
    chat_template.render_prompt(conversation, session, ids);
    const size_t first = !conversation.empty() && conversation.front().role == "system" ? 1 : 0;
    // The last message (the turn to answer) always stays; generate() cuts a prompt that is still too long.
    if (ids.size() <= room || conversation.size() <= first + 1) return dropped;
    conversation.erase(conversation.begin() + long(first));
    ++dropped;
  }
}

struct Reply {
  Generation generation;
  size_t dropped_messages = 0;
};

Reply answer(tok::Conversation& conversation, const tok::ChatMlTemplate& chat_template, Generator& g,
             const GenerateOptions& options, Rng& rng, const std::function<void(std::string_view)>& on_text) {
  const auto session = g.tokenizer->session();
  std::vector<uint32_t> ids;
  Reply r;
  r.dropped_messages = fit_prompt(conversation, chat_template, *session, g.decoder->capacity(), options.max_new_tokens, ids);
  r.generation = generate(*g.decoder, g.tokenizer->vocab(), ids, options, rng, on_text);
  return r;
}

// A conversation of --messages: up to its last user turn, the system message of --system first when it
// has none.
tok::Conversation prompt_conversation(std::string_view line, const std::string& system) {
  tok::Conversation c = tok::parse_conversation(line, tok::ChatFormat::kMessages, false);
  while (!c.empty() && c.back().role != "user") c.pop_back();
  if (c.empty()) throw Error("no user turn to answer");
  if (!system.empty() && c.front().role != "system") c.insert(c.begin(), tok::Message{"system", system});
  return c;
}

void run_messages(const SampleOptions& o, Generator& g, const tok::ChatMlTemplate& chat_template,
                  const GenerateOptions& options, ByteSink& out) {
  uint64_t index = 0;
  for_each_file_line(o.messages_file, [&](std::string_view line, size_t line_number) {
    tok::Conversation conversation;
    try {
      conversation = prompt_conversation(line, o.system);
    } catch (const Error& e) {
      throw Error(fmt::format("{}:{}: {}", o.messages_file, line_number, e.what()));
    }
    Rng rng(o.seed, {index++});
    const Reply r = answer(conversation, chat_template, g, options, rng, [](std::string_view) {});
    if (r.dropped_messages && !o.quiet)
      std::fprintf(stderr, "sample: %s:%zu: the conversation is longer than the context: its %zu oldest messages were "
                           "left out\n", o.messages_file.c_str(), line_number, r.dropped_messages);
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    for (const tok::Message& m : conversation) messages.push_back({{"role", m.role}, {"content", m.content}});
    const nlohmann::ordered_json j = {{"messages", messages},
                              {"reply", r.generation.text},
                              {"ids", r.generation.ids},
                              {"finish_reason", r.generation.finish_reason}};
    write_text(out, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    out.flush();
  });
}

void run_conversation(const SampleOptions& o, Generator& g, const tok::ChatMlTemplate& chat_template,
                      const GenerateOptions& options, ByteSink& out) {
  tok::Conversation conversation;
  if (!o.system.empty()) conversation.push_back({"system", o.system});
  for_each_user_turn(o.quiet, [&](const std::string& line, uint64_t turn) {
    conversation.push_back({"user", line});
    Rng rng(o.seed, {turn});
    const Reply r = answer(conversation, chat_template, g, options, rng, [&](std::string_view text) {
      write_text(out, text);
      out.flush();
    });
    if (r.dropped_messages && !o.quiet)
      std::fprintf(stderr, "sample: the conversation outgrew the context: its %zu oldest messages were dropped\n",
                   r.dropped_messages);
    write_text(out, "\n");
    out.flush();
    conversation.push_back({"assistant", r.generation.text});
  });
}

}  // namespace

void for_each_user_turn(bool quiet, const std::function<void(const std::string&, uint64_t)>& reply) {
  const bool terminal = ::isatty(STDIN_FILENO) && !quiet;
  std::string line;
  for (uint64_t turn = 0;; ++turn) {
    if (terminal) std::fputs("user> ", stderr);
    if (!std::getline(std::cin, line)) break;
    if (line.ends_with('\r')) line.pop_back();
    reply(line, turn);
  }
  if (terminal) std::fputs("\n", stderr);
}

tok::ChatMlTemplate chat_template_for(const tok::Tokenizer& tokenizer, const std::string& checkpoint) {
  const tok::Vocab& vocab = tokenizer.vocab();
  for (const std::string_view marker : {tok::ChatMlTemplate::kStart, tok::ChatMlTemplate::kEnd})
    if (!vocab.ids.contains(std::string(marker)))
      throw UsageError(fmt::format("{}: the tokenizer has no {}: chat needs a model fine-tuned on make-chat "
                                   "conversations (pretrain --init-from BASE --data CHAT.shard)",
                                   checkpoint, marker));
  return tok::ChatMlTemplate(tokenizer);
}

void run_chat(const SampleOptions& o, Generator& g, ByteSink& out) {
  const tok::ChatMlTemplate chat_template = chat_template_for(*g.tokenizer, o.checkpoint);
  GenerateOptions options = o.generate;
  options.end_tokens.push_back(chat_template.end_id());
  const auto specials = g.tokenizer->vocab().special_ids();
  if (const auto eot = specials.find("eot"); eot != specials.end()) options.end_tokens.push_back(eot->second);
  if (!o.messages_file.empty()) return run_messages(o, g, chat_template, options, out);
  run_conversation(o, g, chat_template, options, out);
}

}  // namespace lmpipe::gen
