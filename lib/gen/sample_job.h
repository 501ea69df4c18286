#pragma once
// sample's work: for GPT checkpoints, load the model and its tokenizer, build each prompt (zero- or
// few-shot), generate, and write text (streamed) or JSON lines; for BERT and RoBERTa checkpoints, fill
// masks (gen/fill_mask.h).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/output_file.h"
#include "gen/generate.h"

namespace lmpipe::gen {

struct SampleOptions {
  std::string checkpoint;             // a run directory (its latest checkpoint) or a checkpoint directory
  std::string vocab;                  // tokenizer files (default: the checkpoint's own)
  std::optional<std::string> prompt;  // --prompt; no prompt source at all: stdin, or unconditional on a terminal
  std::string prompt_file;            // "-": stdin
  std::string batch_file;             // one prompt per line, one answer line each
  std::string shots_file;
  std::string template_text;          // as typed (escapes not yet applied)
  std::vector<std::string> fill_mask; // texts with mask tokens: an encoder checkpoint's job
  bool chat = false;                  // --chat: a conversation, a user turn a line of stdin
  std::string messages_file;          // --messages: reply to each conversation of a JSON-lines file
  std::string system;                 // --system: the system message of each conversation
  std::string score_file;             // --score: score each conversation's last reply (gen/score_job.h)
  std::string image;                  // --image: a LLaVA checkpoint's picture (gen/vision_sample.h)
  GenerateOptions generate;
  size_t num_samples = 1;
  bool json = false;
  bool echo = false;                  // text output: the prompt before its continuation
  uint64_t seed = 0;
  int threads = 0;
  std::string precision = "fp32";     // --precision: of the matrix products (nn/onednn_gemm.h)
  bool quiet = false;
};

// Runs what the options say, writing to out (flushed after each piece of text). Warnings (a prompt cut
// to fit the context) go to stderr unless quiet.
void run_sample(const SampleOptions& options, ByteSink& out);

}  // namespace lmpipe::gen
