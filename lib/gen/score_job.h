#pragma once
// sample --score: each conversation's last assistant reply scored by a chat checkpoint, a JSON line each
// in the file's order. A language model gives the reply's log-probability given the conversation before
// it ({"logprob", "tokens"}: the sum over the reply's tokens and its <|im_end|>); a reward model gives its
// reward ({"reward"}, read at <|im_end|> as pretrain --objective reward trains it). The ids are make-prefs':
// the conversation before the reply in the ChatML template up to "<|im_start|>assistant\n", then the
// reply's content and <|im_end|>; a conversation longer than the model's positions loses tokens from its
// start, as sample's prompts do. For evaluations: KL to a reference from the log-probabilities of one
// model's samples under both, best-of-N with a reward model.
#include <string>

#include "core/output_file.h"

namespace lmpipe::gen {

// file: JSON lines {"messages": [...]} ending with an assistant message. vocab: tokenizer files ("": the
// checkpoint's). Throws Error "FILE:LINE: what" for a bad line.
void run_score(const std::string& checkpoint, const std::string& file, const std::string& vocab, ByteSink& out);

}  // namespace lmpipe::gen
