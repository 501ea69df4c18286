#include "tok/train_job.h"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/input_file.h"
#include "core/output_file.h"
#include "text/bert_pretokenizer.h"
#include "text/gpt2_pretokenizer.h"
#include "text/unicode.h"
#include "tok/bpe_trainer.h"
#include "tok/text_chunker.h"
#include "tok/vocab.h"

namespace lmpipe::tok {
namespace {

std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Raw bytes -> GPT-2's byte-level alphabet (what vocab.json and merges.txt are written in).
std::string to_byte_level(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) text::append_utf8(out, byte_to_codepoint()[b]);
  return out;
}

// Calls fn(line) for each line of text, the newline kept.
template <class F>
void for_each_line(std::string_view text, F&& fn) {
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    end = end == std::string_view::npos ? text.size() : end + 1;
    fn(text.substr(pos, end - pos));
    pos = end;
  }
}

void add_count(StringMap<uint64_t>& counts, std::string_view word, uint64_t n) {
  auto it = counts.find(word);
  if (it == counts.end()) it = counts.emplace(std::string(word), 0).first;
  it->second += n;
}

// The added-token entries of tokenizer.json (HuggingFace needs every field).
nlohmann::ordered_json added_tokens(const std::vector<std::string>& tokens, const std::vector<std::string>& specials,
                                    bool normalized) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (uint32_t id = 0; id < tokens.size(); ++id) {
    if (std::find(specials.begin(), specials.end(), tokens[id]) == specials.end()) continue;
    list.push_back({{"id", id},
                    {"content", tokens[id]},
                    {"single_word", false},
                    {"lstrip", false},
                    {"rstrip", false},
                    {"normalized", normalized},
                    {"special", true}});
  }
  return list;
}

// Token -> id in id order. The tokens are distinct, so entries are appended as they are: ordered_json's
// operator[] searches its entries one by one, quadratic in a 50,000-token vocabulary.
nlohmann::ordered_json vocab_object(const std::vector<std::string>& tokens) {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  auto& entries = vocab.get_ref<nlohmann::ordered_json::object_t&>();
  entries.reserve(tokens.size());
  for (uint32_t id = 0; id < tokens.size(); ++id) entries.emplace_back(tokens[id], id);
  return vocab;
}

void write_bpe(const TrainedBpe& trained, const std::vector<std::string>& specials, const std::string& dir) {
  std::string vocab = "{";
  for (uint32_t id = 0; id < trained.tokens.size(); ++id)
    vocab += fmt::format("{}{}:{}", id ? "," : "", json_string(trained.tokens[id]), id);
  vocab += "}";
  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : trained.merges) merges += a + " " + b + "\n";

  const auto has = [&](const char* t) { return std::find(specials.begin(), specials.end(), t) != specials.end(); };
  const nlohmann::ordered_json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  // GPT-2's own tokenizer.json keeps offsets untrimmed after encoding: with trimming, an assistant content that
  // starts with a space loses its offsets and transformers' return_assistant_tokens_mask loses its tokens.
  nlohmann::ordered_json post = byte_level;
  post["trim_offsets"] = false;
  if (has("<s>") && has("</s>")) {
    const auto id_of = [&](const char* t) {
      return uint32_t(std::find(trained.tokens.begin(), trained.tokens.end(), t) - trained.tokens.begin());
    };
    post = {{"type", "RobertaProcessing"}, {"sep", {"</s>", id_of("</s>")}}, {"cls", {"<s>", id_of("<s>")}},
            {"trim_offsets", true}, {"add_prefix_space", false}};
  }
  nlohmann::ordered_json merge_list = nlohmann::ordered_json::array();
  for (const auto& [a, b] : trained.merges) merge_list.push_back(a + " " + b);
  const nlohmann::ordered_json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added_tokens(trained.tokens, specials, true)},
      {"normalizer", nullptr},
      {"pre_tokenizer", byte_level},
      {"post_processor", post},
      {"decoder", byte_level},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab_object(trained.tokens)},
        {"merges", merge_list}}}};
  write_file_atomically(dir + "/vocab.json", vocab);
  write_file_atomically(dir + "/merges.txt", merges);
  write_file_atomically(dir + "/tokenizer.json", tokenizer.dump(2) + "\n");
}

void write_wordpiece(const TrainedBpe& trained, const std::vector<std::string>& specials, bool lowercase,
                     const std::string& dir) {
  std::string vocab;
  for (const std::string& token : trained.tokens) vocab += token + "\n";
  const auto id_of = [&](const char* t) {
    return uint32_t(std::find(trained.tokens.begin(), trained.tokens.end(), t) - trained.tokens.begin());
  };
  nlohmann::ordered_json post = nullptr;
  if (id_of("[CLS]") < trained.tokens.size() && id_of("[SEP]") < trained.tokens.size())
    post = {{"type", "BertProcessing"}, {"sep", {"[SEP]", id_of("[SEP]")}}, {"cls", {"[CLS]", id_of("[CLS]")}}};
  const nlohmann::ordered_json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added_tokens(trained.tokens, specials, false)},
      {"normalizer",
       {{"type", "BertNormalizer"},
        {"clean_text", true},
        {"handle_chinese_chars", true},
        {"strip_accents", nullptr},
        {"lowercase", lowercase}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", post},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", "[UNK]"},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", 100},
        {"vocab", vocab_object(trained.tokens)}}}};
  write_file_atomically(dir + "/vocab.txt", vocab);
  write_file_atomically(dir + "/tokenizer.json", tokenizer.dump(2) + "\n");
}

}  // namespace

StringMap<uint64_t> count_words(const std::vector<std::string>& inputs, const TrainOptions& options) {
  const int threads = std::max(1, options.threads);
  text::BertNormalizerOptions bert;
  bert.lowercase = options.lowercase;
  const text::BertPreTokenizer bert_split(bert);
  std::vector<StringMap<uint64_t>> counts(static_cast<size_t>(threads));
  TextChunker chunker(inputs, TextChunker::Cut::kLines, options.chunk_bytes);
  Progress progress(options.show_progress, "counting words", total_input_bytes(inputs), Progress::Unit::kBytes);
  for_each_chunk_parallel(
      chunker, threads,
      [&](const TextChunk& chunk, size_t, int thread) {
        StringMap<uint64_t>& mine = counts[size_t(thread)];
        text::WordList words;
        for_each_line(chunk.text, [&](std::string_view line) {
          if (options.model == ModelKind::kBpe) {
            text::gpt2_split(line, [&](std::string_view piece) { add_count(mine, piece, 1); });
          } else {
            bert_split.split(line, words);
            for (size_t w = 0; w < words.size(); ++w) add_count(mine, words[w], 1);
          }
        });
      },
      [&](const TextChunk&, size_t) { progress.update(chunker.bytes_read()); });
  progress.finish();
  StringMap<uint64_t> all = std::move(counts[0]);
  for (size_t t = 1; t < counts.size(); ++t)
    for (const auto& [word, n] : counts[t]) add_count(all, word, n);
  if (options.model == ModelKind::kBpe) {  // to the byte-level alphabet the files are written in
    StringMap<uint64_t> mapped;
    mapped.reserve(all.size());
    for (const auto& [word, n] : all) mapped.emplace(to_byte_level(word), n);
    return mapped;
  }
  return all;
}

void train_tokenizer(const std::vector<std::string>& inputs, const TrainOptions& options, const std::string& dir) {
  BpeTrainerOptions engine;
  engine.vocab_size = options.vocab_size;
  engine.min_frequency = options.min_frequency;
  if (options.model == ModelKind::kBpe) {
    engine.special_tokens = options.special_tokens.value_or(std::vector<std::string>{"<|endoftext|>"});
    for (int b = 0; b < 256; ++b) engine.initial_alphabet.push_back(to_byte_level(std::string(1, char(b))));
    engine.limit_alphabet = options.limit_alphabet;
  } else {
    if (options.special_tokens) {
      engine.special_tokens = *options.special_tokens;
    } else {
      engine.special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
      engine.special_ids = {0, 100, 101, 102, 103};
      engine.filler_format = "[unused{}]";
    }
    engine.limit_alphabet = options.limit_alphabet == 0 ? 1000 : options.limit_alphabet;
    engine.continuing_prefix = "##";
  }
  OutputDirectory out(dir);  // the files appear together, or not at all

  const StringMap<uint64_t> words = count_words(inputs, options);
  Progress progress(options.show_progress, "merging", options.vocab_size, Progress::Unit::kItems);
  const TrainedBpe trained = train_bpe(words, engine, progress);
  progress.finish();
  if (options.model == ModelKind::kBpe) {
    write_bpe(trained, engine.special_tokens, out.staging());
  } else {
    write_wordpiece(trained, engine.special_tokens, options.lowercase, out.staging());
  }
  out.commit();
}

size_t extend_vocabulary(const std::string& vocab_spec, const std::vector<std::string>& specials, bool lowercase,
                         const std::string& dir) {
  const Vocab vocab = load_vocab(vocab_spec);
  TrainedBpe extended{vocab.tokens, vocab.merges};
  std::vector<std::string> special_tokens;
  for (uint32_t id : vocab.added_token_ids()) special_tokens.push_back(vocab.tokens[id]);
  size_t appended = 0;
  for (const std::string& token : specials) {
    if (token.empty()) throw UsageError("--add-special: a special token cannot be empty");
    if (std::find(special_tokens.begin(), special_tokens.end(), token) == special_tokens.end())
      special_tokens.push_back(token);
    if (vocab.ids.contains(token) ||
        std::find(extended.tokens.begin() + vocab.size(), extended.tokens.end(), token) != extended.tokens.end())
      continue;
    extended.tokens.push_back(token);
    ++appended;
  }
  OutputDirectory out(dir);
  if (vocab.kind == VocabKind::kByteLevelBpe) {
    write_bpe(extended, special_tokens, out.staging());
  } else {
    write_wordpiece(extended, special_tokens, lowercase, out.staging());
  }
  out.commit();
  return appended;
}

}  // namespace lmpipe::tok
