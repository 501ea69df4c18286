#include "gen/fill_mask.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "nn/onednn_gemm.h"
#include "nn/runtime.h"

namespace lmpipe::gen {
namespace {

namespace fs = std::filesystem;

std::string trim_right_spaces(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::vector<MaskFill> fill_mask(nn::Bert<float>& model, const tok::Tokenizer& tokenizer, std::string_view text,
                                size_t top_k) {
  const tok::Vocab& vocab = tokenizer.vocab();
  const auto specials = vocab.special_ids();
  const auto mask_role = specials.find("mask");
  if (mask_role == specials.end()) throw Error("the tokenizer has no mask token ([MASK] or <mask>)");
  const uint32_t mask_id = mask_role->second;
  const std::string& mask_token = vocab.tokens[mask_id];
  const bool bpe = vocab.kind == tok::VocabKind::kByteLevelBpe;

  // ids: the framing, the pieces between masks, the masks.
  std::vector<uint32_t> ids = tokenizer.special_prefix(), masks;
  const auto session = tokenizer.session();
  for (size_t start = 0;;) {
    const size_t at = text.find(mask_token, start);
    std::string piece(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at != std::string_view::npos && bpe) piece = trim_right_spaces(piece);
    session->encode(piece, ids);
    if (at == std::string_view::npos) break;
    masks.push_back(uint32_t(ids.size()));
    ids.push_back(mask_id);
    start = at + mask_token.size();
  }
  const std::vector<uint32_t>& suffix = tokenizer.special_suffix();
  ids.insert(ids.end(), suffix.begin(), suffix.end());
  if (masks.empty()) throw Error(fmt::format("the text has no {} to fill", mask_token));
  const size_t T = ids.size(), V = model.config().vocab_size;
  if (T > model.config().max_len)
    throw Error(fmt::format("the text is {} tokens with its framing, the model takes {}", T, model.config().max_len));
  for (uint32_t id : ids)
    if (id >= V) throw Error(fmt::format("token id {} is outside the model's vocabulary of {}: wrong tokenizer?", id, V));

  nn::EncoderBatch batch;
  batch.ids = ids.data();
  batch.mlm_rows = masks.data();
  batch.M = masks.size();
  batch.B = 1;
  batch.Tn = T;
  std::vector<float> logits(masks.size() * V);
  model.mlm_logits(batch, logits.data());

  // The text with one mask's token replaced, for each candidate: decoded without the framing.
  const std::vector<uint32_t> body(ids.begin() + ptrdiff_t(tokenizer.special_prefix().size()),
                                   ids.end() - ptrdiff_t(suffix.size()));
  std::vector<MaskFill> fills;
  for (size_t m = 0; m < masks.size(); ++m) {
    const float* row = logits.data() + m * V;
    const float top = *std::max_element(row, row + V);
    double sum = 0;
    for (size_t v = 0; v < V; ++v) sum += std::exp(double(row[v] - top));
    const size_t k = std::min(top_k, V);
    std::vector<uint32_t> order(V);
    std::iota(order.begin(), order.end(), 0u);
    std::partial_sort(order.begin(), order.begin() + ptrdiff_t(k), order.end(), [&](uint32_t a, uint32_t b) {
      return row[a] != row[b] ? row[a] > row[b] : a < b;
    });
    MaskFill fill;
    fill.position = masks[m];
    for (size_t i = 0; i < k; ++i) {
      FillCandidate c;
      c.id = order[i];
      c.probability = std::exp(double(row[c.id] - top)) / sum;
      c.token = c.id < vocab.size() ? vocab.decode(std::span<const uint32_t>(&c.id, 1)) : "";
      std::vector<uint32_t> filled = body;
      filled[masks[m] - tokenizer.special_prefix().size()] = c.id;
      c.sequence = vocab.decode(filled);
      fill.candidates.push_back(std::move(c));
    }
    fills.push_back(std::move(fill));
  }
  return fills;
}

void run_fill_mask(const FillMaskOptions& o, ByteSink& out) {
  if (o.top_k == 0) throw UsageError("--top-k must be at least 1 for --fill-mask");
  nn::set_compute_threads(o.threads);
  checkpoint::LoadedModel loaded = checkpoint::load_model_dir(o.checkpoint);
  const auto* config = std::get_if<nn::BertConfig>(&loaded.config);
  if (config == nullptr)
    throw UsageError(fmt::format("--fill-mask needs a BERT or RoBERTa checkpoint; {} holds a {} model", o.checkpoint,
                                 nn::model_type(loaded.config)));
  const std::string vocab_spec = o.vocab.empty() ? loaded.dir : o.vocab;
  if (o.vocab.empty() && !fs::exists(fs::path(loaded.dir) / "vocab.txt") && !fs::exists(fs::path(loaded.dir) / "vocab.json"))
    throw Error(fmt::format("{}: no tokenizer files (vocab.txt, or vocab.json and merges.txt); name one with -v", o.checkpoint));
  const auto tokenizer = tok::Tokenizer::load(vocab_spec);
  nn::Bert<float> model(*config, nn::ModelBuffers::kLayout);
  model.params() = std::move(loaded.params);
  const auto weights_bf16 = nn::copy_for_bf16_products(model.params().data(), model.params().size());

  for (const std::string& text : o.texts) {
    const std::vector<MaskFill> fills = fill_mask(model, *tokenizer, text, o.top_k);
    for (size_t m = 0; m < fills.size(); ++m) {
      std::string s;
      if (o.json) {
        nlohmann::ordered_json j = {{"text", text}, {"mask", m}, {"position", fills[m].position}};
        nlohmann::ordered_json candidates = nlohmann::ordered_json::array();
        for (const FillCandidate& c : fills[m].candidates)
          candidates.push_back(
              nlohmann::ordered_json{{"token", c.token}, {"id", c.id}, {"prob", c.probability}, {"sequence", c.sequence}});
        j["candidates"] = std::move(candidates);
        s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      } else {
        if (fills.size() > 1) s += fmt::format("mask {} of {}:\n", m + 1, fills.size());
        for (const FillCandidate& c : fills[m].candidates)
          s += fmt::format("{:.4f}\t{}\t{}\n", c.probability, c.token, c.sequence);
      }
      out.write(s.data(), s.size());
    }
    out.flush();
  }
}

}  // namespace lmpipe::gen
