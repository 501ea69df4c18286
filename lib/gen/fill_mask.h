#pragma once
// Fill-mask with a BERT or RoBERTa checkpoint: the text is written with the vocabulary's mask token
// ([MASK] or <mask>) where words are missing; each mask gets the model's most probable tokens there.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/output_file.h"
#include "nn/bert.h"
#include "tok/tokenizer.h"

namespace lmpipe::gen {

struct FillCandidate {
  uint32_t id = 0;
  std::string token;     // the token's text (WordPiece without ##; byte-level BPE as bytes)
  double probability = 0;
  std::string sequence;  // the text with this mask filled by the token (other masks left as they are)
};

struct MaskFill {
  size_t position = 0;  // of the mask in the encoded sequence ([CLS]/<s> is 0)
  std::vector<FillCandidate> candidates;  // most probable first
};

// Splits text at the mask token, encodes the pieces (for byte-level BPE the spaces before a mask go
// with it, as RoBERTa's <mask> strips left in HuggingFace), frames them as the tokenizer's post-processor
// does ([CLS] x [SEP], <s> x </s>), and returns the top_k candidates for every mask in order. Throws Error
// when the text has no mask or does not fit the model's positions.
std::vector<MaskFill> fill_mask(nn::Bert<float>& model, const tok::Tokenizer& tokenizer, std::string_view text,
                                size_t top_k);

struct FillMaskOptions {
  std::string checkpoint, vocab;
  std::vector<std::string> texts;  // --fill-mask, or the lines of --batch-file
  size_t top_k = 5;
  bool json = false;
  int threads = 0;
};

// Loads the checkpoint and its tokenizer, fills every text's masks, writes text or JSON lines to out.
// Text: per mask a header line when a text has several, then one line per candidate: probability, tab,
// token, tab, the filled text. JSON: one object per mask: text, mask (its index), position, candidates
// [{token, id, prob, sequence}].
void run_fill_mask(const FillMaskOptions& options, ByteSink& out);

}  // namespace lmpipe::gen
