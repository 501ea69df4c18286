#include "data/images_job.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "core/error.h"
#include "core/input_file.h"
#include "data/chat_job.h"
#include "data/line_chunks.h"
#include "image/clip_resize.h"
#include "tok/chat_template.h"
#include "tok/conversation.h"
#include "tok/text_chunker.h"

namespace lmpipe::data {
namespace {

// What a chunk of lines became: each record's ids, mask and pixels back to back, and the lines that were bad.
struct ImagesChunk {
  struct Item {
    size_t line = 0;               // index of the line in the chunk
    size_t start = 0, length = 0;  // into tokens
    size_t pixel_start = 0;        // into pixels, in bytes
    bool caption = false, truncated = false;
    std::string error;  // non-empty: the line was bad
  };
  tok::ChatTokens tokens;
  std::vector<uint8_t> pixels;
  std::vector<Item> items;
  size_t lines = 0;
};

// A thread's reusable buffers and encoder.
struct Worker {
  std::unique_ptr<tok::Tokenizer::Session> session;
  ByteBuffer file;
  image::RgbImage decoded, cropped;
};

// The whole of a picture's file into bytes (the buffer reused).
void read_picture(const std::string& path, ByteBuffer& bytes) {
  const auto in = InputStream::open(path);
  if (in->size() && *in->size() > uint64_t(INT_MAX))
    throw Error(fmt::format("{}: {} bytes, more than a picture's file may have ({})", path, *in->size(), INT_MAX));
  bytes.clear();
  while (in->read_append(bytes, 1 << 20) > 0)
    if (bytes.size() > size_t(INT_MAX)) throw Error(fmt::format("{}: more than {} bytes", path, INT_MAX));
}

class ImageRecords {
 public:
  ImageRecords(const tok::Tokenizer& tokenizer, const std::vector<std::string>& inputs, const ImagesOptions& options)
      : options_(options), placeholder_{options.placeholder, placeholder_id(tokenizer, options.placeholder)},
        suffix_(tokenizer.special_suffix()) {
    try {
      chat_template_.emplace(tokenizer);
    } catch (const Error& e) {
      no_template_ = e.what();
    }
    // Pictures are relative to their JSON file (stdin's: to the current directory).
    for (const std::string& input : inputs)
      base_dirs_.push_back(input == "-" ? std::filesystem::path(".")
                                        : std::filesystem::path(input).parent_path().empty()
                                              ? std::filesystem::path(".")
                                              : std::filesystem::path(input).parent_path());
  }

  void encode_chunk(std::string_view text, size_t file, Worker& worker, ImagesChunk& result) const {
    result.tokens.ids.clear();
    result.tokens.loss_mask.clear();
    result.pixels.clear();
    result.items.clear();
    result.lines = tok::for_each_record_line(text, [&](size_t index, std::string_view line) {
      ImagesChunk::Item item;
      item.line = index;
      item.start = result.tokens.ids.size();
      item.pixel_start = result.pixels.size();
      try {
        encode_line(line, base_dirs_[file], worker, result, item);
      } catch (const Error& e) {
        item.error = e.what();
        result.tokens.ids.resize(item.start);
        result.tokens.loss_mask.resize(item.start);
        result.pixels.resize(item.pixel_start);
      }
      item.length = result.tokens.ids.size() - item.start;
      result.items.push_back(std::move(item));
    });
  }

 private:
  void encode_line(std::string_view line, const std::filesystem::path& base, Worker& worker, ImagesChunk& result,
                   ImagesChunk::Item& item) const {
    const tok::ImageText record = tok::parse_image_text(line);
    tok::ChatTokens& tokens = result.tokens;
    if (record.is_caption) {
      if (suffix_.empty())
        throw Error("a caption, but the vocabulary has no end-of-text token to close it (a chat needs none)");
      item.caption = true;
      tokens.ids.push_back(placeholder_.id);
      tokens.loss_mask.push_back(0);
      worker.session->encode(record.caption, tokens.ids);
      tokens.ids.insert(tokens.ids.end(), suffix_.begin(), suffix_.end());
      tokens.loss_mask.resize(tokens.ids.size(), 1);
    } else {
      if (!chat_template_) throw Error(no_template_);
      chat_template_->render(record.conversation, *worker.session, tokens, &placeholder_);
      const auto n = size_t(std::count(tokens.ids.begin() + ptrdiff_t(item.start), tokens.ids.end(), placeholder_.id));
      if (n != 1)
        throw Error(n == 0 ? fmt::format("no {} in the conversation: nowhere for the picture to go", placeholder_.text)
                           : fmt::format("{} {} in the conversation: a record has one picture", n, placeholder_.text));
    }
    if (tokens.ids.size() - item.start > options_.max_len) {
      const auto placeholder_at =
          size_t(std::find(tokens.ids.begin() + ptrdiff_t(item.start), tokens.ids.end(), placeholder_.id) -
                 tokens.ids.begin()) - item.start;
      if (placeholder_at >= options_.max_len)
        throw Error(fmt::format("the {} is id {} of the text, past --max-len {}", placeholder_.text, placeholder_at + 1,
                                options_.max_len));
      tokens.ids.resize(item.start + options_.max_len);
      tokens.loss_mask.resize(item.start + options_.max_len);
      item.truncated = true;
    }
    // The picture last: the text's errors are found without reading it.
    const std::filesystem::path path = std::filesystem::path(record.image).is_absolute()
                                           ? std::filesystem::path(record.image)
                                           : base / record.image;
    read_picture(path.string(), worker.file);
    try {
      image::decode_image(worker.file, options_.limits, worker.decoded);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", path.string(), e.what()));
    }
    image::clip_resize_crop(worker.decoded, options_.image_size, worker.cropped);
    result.pixels.insert(result.pixels.end(), worker.cropped.pixels.begin(), worker.cropped.pixels.end());
  }

  const ImagesOptions& options_;
  tok::Placeholder placeholder_;
  std::vector<uint32_t> suffix_;
  std::optional<tok::ChatMlTemplate> chat_template_;
  std::string no_template_;  // why there is none
  std::vector<std::filesystem::path> base_dirs_;
};

}  // namespace

uint32_t placeholder_id(const tok::Tokenizer& tokenizer, const std::string& placeholder) {
  const tok::Vocab& vocab = tokenizer.vocab();
  const auto it = vocab.ids.find(placeholder);
  const auto added = vocab.added_token_ids();
  if (it == vocab.ids.end() || std::find(added.begin(), added.end(), it->second) == added.end())
    throw Error(fmt::format("{}: the vocabulary has no added token {} for the picture; tok-train --extend {} "
                            "--add-special '{}' -o DIR writes one that has",
                            vocab.source, placeholder, vocab.source, placeholder));
  return it->second;
}

io::ShardHeader images_header(const tok::Tokenizer& tokenizer, const ImagesOptions& options,
                              nlohmann::json provenance) {
  std::optional<io::ShardHeader> h;
  try {
    h = template_header(io::RecordKind::kImages, tokenizer, tok::ChatMlTemplate(tokenizer), provenance);
  } catch (const Error&) {
    h = vocab_header(io::RecordKind::kImages, tokenizer, provenance);  // captions only: no chat markers
  }
  h->extra["image_token"] = {{"content", options.placeholder}, {"id", placeholder_id(tokenizer, options.placeholder)}};
  h->extra["image_size"] = options.image_size;
  h->extra["resize"] = "shortest side bicubic, centre crop";
  h->extra["max_len"] = options.max_len;
  return *h;
}

ImagesSummary make_images(const tok::Tokenizer& tokenizer, const std::vector<std::string>& inputs,
                          const ImagesOptions& options, io::ShardWriter& writer, Progress& progress) {
  if (options.image_size == 0) throw UsageError("--image-size 0: a picture needs pixels");
  if (options.max_len < 2)
    throw UsageError(fmt::format("--max-len {} is below 2: a record holds an input and its target", options.max_len));
  const ImageRecords records(tokenizer, inputs.empty() ? std::vector<std::string>{"-"} : inputs, options);
  const int threads = std::max(1, options.threads);
  std::vector<Worker> workers(static_cast<size_t>(threads));
  for (Worker& w : workers) w.session = tokenizer.session();
  ImagesSummary summary;
  const uint64_t image_bytes = 3 * uint64_t(options.image_size) * options.image_size;
  summary.skipped = for_each_line_chunk<ImagesChunk>(
      inputs, options.chunk_bytes, threads, options.skip_bad, progress,
      [&](std::string_view text, size_t file, int thread, ImagesChunk& result) {
        records.encode_chunk(text, file, workers[size_t(thread)], result);
      },
      [&](const ImagesChunk& r, const ImagesChunk::Item& item) {
        io::RecordView view;
        view.ids = std::span<const uint32_t>(r.tokens.ids).subspan(item.start, item.length);
        view.loss_mask = std::span<const uint8_t>(r.tokens.loss_mask).subspan(item.start, item.length);
        view.pixels = std::span<const uint8_t>(r.pixels).subspan(item.pixel_start, image_bytes);
        view.image_height = view.image_width = options.image_size;
        writer.write(view);
        ++summary.records;
        ++(item.caption ? summary.captions : summary.chats);
        summary.truncated += item.truncated;
        summary.tokens += item.length;
        for (const uint8_t m : view.loss_mask) summary.loss_tokens += m;
      });
  return summary;
}

}  // namespace lmpipe::data
