#pragma once
// sample's chat modes, for a GPT fine-tuned on ChatML conversations (pretrain on make-chat shards):
//   --chat      a conversation: each line of stdin a user turn (with a prompt on a terminal), each reply
//               streamed to the output as it is generated;
//   --messages  the reply to the last user turn of each conversation of a JSON-lines file, one JSON object
//               out per conversation: {"messages": [...], "reply", "ids", "finish_reason"}.
// Replies end at <|im_end|> (not printed), the end-of-text token or the sampling limits. A conversation
// longer than the context loses its oldest turns first (the system message stays), with a notice.
#include <cstdint>
#include <functional>
#include <string>

#include "core/output_file.h"
#include "gen/generator.h"
#include "gen/sample_job.h"
#include "tok/chat_template.h"
#include "tok/tokenizer.h"

namespace lmpipe::gen {

void run_chat(const SampleOptions& options, Generator& generator, ByteSink& out);

// The user turns of --chat: each line of stdin (a "user> " prompt on a terminal, unless quiet), handed to
// reply(line, turn), which writes the reply.
void for_each_user_turn(bool quiet, const std::function<void(const std::string&, uint64_t)>& reply);

// The ChatML template over a checkpoint's tokenizer; UsageError naming the checkpoint when the tokenizer
// lacks the markers (the model was never fine-tuned on chats).
tok::ChatMlTemplate chat_template_for(const tok::Tokenizer& tokenizer, const std::string& checkpoint);

}  // namespace lmpipe::gen
