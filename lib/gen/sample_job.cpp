#include "gen/sample_job.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "checkpoint/model_dir.h"
#include "core/error.h"
#include "core/input_file.h"
#include "gen/chat.h"
#include "gen/fill_mask.h"
#include "gen/generator.h"
#include "gen/vision_sample.h"
#include "gen/prompt.h"
#include "gen/score_job.h"
#include "nn/onednn_gemm.h"
#include "nn/runtime.h"
#include "tok/tokenizer.h"

namespace lmpipe::gen {
namespace {

// A prompt from a file or stdin without the newline that ends its last line, as $(cat FILE) reads it.
std::string without_final_newline(std::string text) {
  if (text.ends_with("\r\n")) text.resize(text.size() - 2);
  else if (text.ends_with('\n')) text.pop_back();
  return text;
}

struct Query {
  std::string text;  // what the user asked (the prompt line, file or --prompt)
};

std::vector<Query> read_queries(const SampleOptions& o) {
  if (!o.batch_file.empty()) {
    std::vector<Query> queries;
    std::string text = read_file(o.batch_file);
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      if (line.ends_with('\r')) line.pop_back();
      queries.push_back(Query{std::move(line)});
      start = end + 1;
    }
    return queries;
  }
  if (o.prompt) return {Query{*o.prompt}};
  if (!o.prompt_file.empty()) return {Query{without_final_newline(read_file(o.prompt_file))}};
  // No prompt given: stdin when something is piped in; on a terminal, an unconditional sample.
  if (::isatty(STDIN_FILENO)) return {Query{""}};
  return {Query{without_final_newline(read_file("-"))}};
}

}  // namespace

void run_sample(const SampleOptions& o, ByteSink& out) {
  nn::select_precision(o.precision, "sample", o.quiet);
  const std::string type = checkpoint::model_dir_type(o.checkpoint);
  const bool encoder = type == "bert" || type == "roberta";
  if (type == "llava") {
    if (!o.fill_mask.empty() || !o.score_file.empty())
      throw UsageError(fmt::format("{} holds a LLaVA model: --fill-mask and --score are not for it", o.checkpoint));
    return run_vision_sample(o, out);
  }
  if (!o.image.empty())
    throw UsageError(fmt::format("--image needs a LLaVA checkpoint (pretrain --arch llava); {} holds a {} model",
                                 o.checkpoint, type));
  if (!o.fill_mask.empty()) {
    if (!encoder)
      throw UsageError(fmt::format("--fill-mask needs a BERT or RoBERTa checkpoint; {} holds a {} model", o.checkpoint, type));
    FillMaskOptions f;
    f.checkpoint = o.checkpoint;
    f.vocab = o.vocab;
    f.texts = o.fill_mask;
    f.top_k = o.generate.sampler.top_k ? o.generate.sampler.top_k : 5;
    f.json = o.json;
    f.threads = o.threads;
    run_fill_mask(f, out);
    return;
  }
  if (!o.score_file.empty()) {
    if (encoder) throw UsageError(fmt::format("--score needs a GPT checkpoint; {} holds a {} model", o.checkpoint, type));
    nn::set_compute_threads(o.threads);
    return run_score(o.checkpoint, o.score_file, o.vocab, out);
  }
  if (encoder)
    throw UsageError(fmt::format("{} holds a {} model, which fills masks rather than continuing text: give --fill-mask TEXT",
                                 o.checkpoint, type));
  if (o.num_samples == 0) throw UsageError("--num-samples must be at least 1");
  o.generate.sampler.validate();
  const std::string template_text = o.template_text.empty() ? "" : parse_template(o.template_text);
  nn::set_compute_threads(o.threads);

  Generator generator = load_generator(o.checkpoint, o.vocab);
  if (o.chat || !o.messages_file.empty()) return run_chat(o, generator, out);
  const std::string& vocab_spec = generator.vocab_spec;
  const tok::Tokenizer& tokenizer = *generator.tokenizer;
  const tok::Vocab& vocab = tokenizer.vocab();
  nn::GptDecoder<float>& decoder = *generator.decoder;

  const auto specials = vocab.special_ids();
  const auto eot = specials.find("eot");
  GenerateOptions generate_options = o.generate;
  if (eot != specials.end()) generate_options.end_tokens.push_back(eot->second);
  const bool batch = !o.batch_file.empty();
  // One answer line per prompt: the answer ends at its first newline.
  if (batch && !o.json) generate_options.stop.push_back("\n");

  const std::vector<Shot> shots = o.shots_file.empty() ? std::vector<Shot>{} : parse_shots(read_file(o.shots_file));
  const std::vector<Query> queries = read_queries(o);
  const auto session = tokenizer.session();
  bool first_output = true;
  for (size_t q = 0; q < queries.size(); ++q) {
    const std::string context = build_prompt(queries[q].text, shots, o.shots_file, template_text);
    std::vector<uint32_t> ids;
    session->encode(context, ids);
    if (ids.empty()) {
      if (eot == specials.end())
        throw Error(fmt::format("{}: an empty prompt needs <|endoftext|> in the vocabulary to start from", vocab_spec));
      ids.push_back(eot->second);  // GPT-2's unconditional samples start from <|endoftext|>
    }
    for (size_t s = 0; s < o.num_samples; ++s) {
      Rng rng(o.seed, {q, s});
      if (!o.json && !batch) {
        if (!first_output) write_text(out, "---------------\n");  // between samples, as nanoGPT's sample.py
        if (o.echo) write_text(out, context);
      }
      first_output = false;
      const auto on_text = [&](std::string_view text) {
        if (o.json) return;
        write_text(out, text);
        out.flush();
      };
      const Generation g = generate(decoder, vocab, ids, generate_options, rng, on_text);
      if (g.dropped_prompt_tokens > 0 && s == 0 && !o.quiet)
        std::fprintf(stderr, "sample: warning: %s: the prompt has %zu tokens, the context %zu: its first %zu were dropped\n",
                     batch ? fmt::format("{}:{}", o.batch_file, q + 1).c_str() : "prompt", ids.size(),
                     decoder.capacity(), g.dropped_prompt_tokens);
      if (o.json) {
        nlohmann::json j;
        j["prompt"] = queries[q].text;
        if (batch) j["index"] = q;
        j["sample"] = s;
        j["text"] = g.text;
        j["ids"] = g.ids;
        j["finish_reason"] = g.finish_reason;
        j["prompt_tokens"] = g.prompt_tokens;
        write_text(out, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      } else if (!g.text.ends_with('\n') || batch) {
        write_text(out, "\n");
      }
      out.flush();
    }
  }
}

}  // namespace lmpipe::gen
