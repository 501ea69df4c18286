#pragma once
// sample's chat modes, for a GPT fine-tuned on ChatML conversations (pretrain on make-chat shards):
//   --chat      a conversation: each line of stdin a user turn (with a prompt on a terminal), each reply
//               streamed to the output as it is generated;
//   --messages  the reply to the last user turn of each conversation of a JSON-lines file, one JSON object
//               out per conversation: {"messages": [...], "reply", "ids", "finish_reason"}.
// Replies end at <|im_end|> (not printed), the end-of-text token or the sampling limits. A conversation
// longer than the context loses its oldest turns first (the system message stays), with a notice.
#include "core/output_file.h"
#include "gen/generator.h"
#include "gen/sample_job.h"

namespace lmpipe::gen {

void run_chat(const SampleOptions& options, Generator& generator, ByteSink& out);

}  // namespace lmpipe::gen
