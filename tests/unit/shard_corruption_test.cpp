// Every corruption docs/DESIGN.md lists ("Shard format") is one Error naming the input and the byte
// offset: never a crash, a hang, a silent success or an allocation the input did not pay for.
#include <doctest/doctest.h>
#include <zstd.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/crc32c.h"
#include "io/shard_file.h"
#include "shard_test_util.h"

using namespace lmpipe;
using namespace lmpipe::io;
using lmpipe::test::OwnedRecord;

namespace {

ShardHeader small_header(RecordKind kind, uint32_t vocab = 100) {
  ShardHeader h = ShardHeader::make(kind, vocab, "sha256:aa");
  h.provenance = make_provenance("test", {}, 1);
  return h;
}

std::vector<uint8_t> small_shard() {
  WriterOptions options;
  options.block_target = 300;  // a few blocks
  return test::write_shard(small_header(RecordKind::kMasked), test::random_records(RecordKind::kMasked, 100, 12, 9, 40),
                           options);
}

// An independent encoder of the layout in shard.5, for payloads the writer would never produce.
struct RawBlock {
  BlockHeader header;
  std::vector<uint8_t> payload;
};

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

std::vector<uint8_t> raw_shard(const ShardHeader& h, const std::vector<RawBlock>& blocks) {
  std::vector<uint8_t> out(kMagic.begin(), kMagic.end());
  const std::string json = h.to_json();
  put_u32(out, kVersion);
  put_u32(out, uint32_t(json.size()));
  out.insert(out.end(), json.begin(), json.end());
  put_u32(out, crc32c(out.data() + 8, out.size() - 8));
  std::vector<std::array<uint64_t, 3>> index;
  uint64_t records = 0, tokens = 0;
  for (const RawBlock& b : blocks) {
    std::vector<uint8_t> frame(ZSTD_compressBound(b.payload.size()));
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    frame.resize(ZSTD_compress2(cctx, frame.data(), frame.size(), b.payload.data(), b.payload.size()));
    ZSTD_freeCCtx(cctx);
    BlockHeader bh = b.header;
    bh.payload_size = uint32_t(b.payload.size());
    bh.frame_size = uint32_t(frame.size());
    index.push_back({out.size(), bh.records, bh.tokens});
    records += bh.records;
    tokens += bh.tokens;
    const auto head = bh.encode();
    out.insert(out.end(), head.begin(), head.end());
    out.insert(out.end(), frame.begin(), frame.end());
  }
  const size_t end_at = out.size();
  out.insert(out.end(), kEndTag.begin(), kEndTag.end());
  put_u32(out, 0);
  put_u64(out, index.size());
  for (const auto& e : index)
    for (uint64_t v : e) put_u64(out, v);
  put_u64(out, index.size());
  put_u64(out, records);
  put_u64(out, tokens);
  put_u64(out, out.size() + 16);
  put_u32(out, crc32c(out.data() + end_at, out.size() - end_at));
  out.insert(out.end(), kFooterTag.begin(), kFooterTag.end());
  return out;
}

// A windows payload: lens then u16 tokens.
RawBlock windows_block(const std::vector<std::vector<uint16_t>>& records, uint32_t declared_tokens) {
  RawBlock b;
  b.header.records = uint32_t(records.size());
  b.header.tokens = declared_tokens;
  for (const auto& r : records) put_u32(b.payload, uint32_t(r.size()));
  for (const auto& r : records)
    for (uint16_t id : r) {
      b.payload.push_back(uint8_t(id));
      b.payload.push_back(uint8_t(id >> 8));
    }
  return b;
}

}  // namespace

TEST_CASE("the independent encoder agrees with the writer") {
  const std::vector<std::vector<uint16_t>> records = {{1, 2, 3}, {4}};
  std::vector<OwnedRecord> owned(2);
  owned[0].ids = {1, 2, 3};
  owned[1].ids = {4};
  CHECK(test::read_all(raw_shard(small_header(RecordKind::kWindows), {windows_block(records, 4)})) == owned);
}

TEST_CASE("every truncation is reported as truncated, with the input's name and an offset") {
  const auto bytes = small_shard();
  REQUIRE(test::read_error(bytes).empty());
  CHECK(test::read_error({}) == "mem:0: empty input: expected an lmpipe shard");
  for (size_t len = 1; len < bytes.size(); ++len) {
    CAPTURE(len);
    const std::string error = test::read_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + long(len)));
    CHECK(error.starts_with("mem:"));
    CHECK(error.find("truncated") != std::string::npos);
  }
}

TEST_CASE("every single flipped bit is detected") {
  const auto bytes = small_shard();
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (uint8_t bit : {uint8_t(0x01), uint8_t(0x10), uint8_t(0x80)}) {
      auto bad = bytes;
      bad[at] ^= bit;
      CAPTURE(at);
      CAPTURE(int(bit));
      CHECK(test::read_error(bad).starts_with("mem:"));
    }
  }
}

TEST_CASE("wrong magic, foreign formats and versions") {
  auto bytes = small_shard();
  auto bad = bytes;
  bad[1] = 'X';
  CHECK(test::read_error(bad) == "mem:0: not an lmpipe shard (wrong magic bytes)");
  const std::string mmidx("MMIDIDX\0\0\1\0\0\0\0\0\0\0", 17);
  CHECK(test::read_error(std::vector<uint8_t>(mmidx.begin(), mmidx.end())).find("fairseq/Megatron MMIDIDX") !=
        std::string::npos);
  const std::vector<uint8_t> zstd_bytes = {0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(test::read_error(zstd_bytes).find("zstd-compressed") != std::string::npos);
  bad = bytes;
  bad[8] = 2;
  CHECK(test::read_error(bad) == "mem:8: unsupported shard format version 2 (this program reads version 1)");
  bad = bytes;
  bad[20] ^= 1;  // inside the JSON
  CHECK(test::read_error(bad) == "mem:0: header checksum mismatch");
  // Bytes after a complete shard must be another shard.
  bad = bytes;
  bad.push_back('x');
  CHECK(test::read_error(bad) == "mem:" + std::to_string(bytes.size()) + ": not an lmpipe shard (wrong magic bytes)");
}

TEST_CASE("block checksums: header and content") {
  const auto bytes = raw_shard(small_header(RecordKind::kWindows), {windows_block({{1, 2, 3}}, 3)});
  // The block starts right after the header.
  const size_t header_size = kHeaderPrefixSize + load_u32(bytes.data() + 12) + 4;
  auto bad = bytes;
  bad[header_size + 5] ^= 1;
  CHECK(test::read_error(bad) == "mem:" + std::to_string(header_size) + ": block header checksum mismatch");
  bad = bytes;
  const uint32_t frame_size = load_u32(bytes.data() + header_size + 20);
  bad[header_size + kBlockHeaderSize + frame_size - 1] ^= 1;  // the frame's XXH64 checksum
  CHECK(test::read_error(bad) == "mem:" + std::to_string(header_size) +
                                     ": block 0: corrupt content (Restored data doesn't match checksum)");
}

TEST_CASE("records that overrun their block, and ids outside the vocabulary") {
  const ShardHeader windows = small_header(RecordKind::kWindows);
  const size_t at = kHeaderPrefixSize + windows.to_json().size() + 4;
  const std::string where = "mem:" + std::to_string(at) + ": block 0: ";
  CHECK(test::read_error(raw_shard(windows, {windows_block({{1, 2, 3}}, 4)})) ==
        where + "records overrun their block: the counts in the block header need 12 payload bytes, the block holds 10");
  RawBlock lying = windows_block({{1, 2}, {3}}, 3);
  lying.payload[0] = 3;  // first length 3, second 1: 4 ids in a block of 3
  CHECK(test::read_error(raw_shard(windows, {lying})) ==
        where + "records overrun their block: their lengths add up to 4, the block header says 3");
  CHECK(test::read_error(raw_shard(windows, {windows_block({{1}, {2, 100}}, 3)})) ==
        where + "record 1: token id 100 is >= vocab size 100");
}

TEST_CASE("kind-specific fields are checked") {
  SUBCASE("docs: sentences must add up, flags must be known") {
    const ShardHeader h = small_header(RecordKind::kDocs);
    RawBlock b;
    b.header = {1, 2, 3, 0, 0};
    put_u32(b.payload, 3);           // len
    put_u32(b.payload, 2);           // sentences
    for (uint8_t v : {1, 0, 1, 0}) b.payload.push_back(v);  // u16 sentence lens 1 + 1 != 3
    for (int i = 0; i < 6; ++i) b.payload.push_back(0);  // 3 u16 ids
    b.payload.push_back(0);          // flags
    CHECK(test::read_error(raw_shard(h, {b})).ends_with("record 0: sentence lengths add up to 2, the record has 3 ids"));
    b.payload[8] = 2;  // 2 + 1 = 3
    CHECK(test::read_error(raw_shard(h, {b})).empty());
    b.payload.back() = kSentenceContinues;  // without kDocContinues
    CHECK(test::read_error(raw_shard(h, {b})).ends_with("record 0: invalid document flags 0x2"));
  }
  SUBCASE("pairs: segment A and labels") {
    const ShardHeader h = small_header(RecordKind::kPairs);
    RawBlock b;
    b.header = {1, 0, 2, 0, 0};
    put_u32(b.payload, 2);  // len
    put_u32(b.payload, 3);  // len_a > len
    for (int i = 0; i < 4; ++i) b.payload.push_back(0);
    b.payload.push_back(1);
    CHECK(test::read_error(raw_shard(h, {b})).ends_with("record 0: segment A length 3 overruns the record's 2 ids"));
    b.payload[4] = 1;
    b.payload.back() = 7;
    CHECK(test::read_error(raw_shard(h, {b})).ends_with("record 0: is_next byte 7 is not 0, 1 or 255"));
  }
  SUBCASE("masked: positions inside and ascending, labels in the vocabulary") {
    const ShardHeader h = small_header(RecordKind::kMasked);
    const auto make = [](uint32_t p0, uint32_t p1, uint16_t label) {
      RawBlock b;
      b.header = {1, 2, 3, 0, 0};
      put_u32(b.payload, 3);  // len
      put_u32(b.payload, 0);  // len_a
      put_u32(b.payload, 2);  // masked count
      put_u32(b.payload, p0);
      put_u32(b.payload, p1);
      for (uint16_t v : {label, uint16_t(5)}) { b.payload.push_back(uint8_t(v)); b.payload.push_back(0); }
      for (int i = 0; i < 3; ++i) { b.payload.push_back(1); b.payload.push_back(0); }  // ids
      b.payload.push_back(255);
      return b;
    };
    CHECK(test::read_error(raw_shard(h, {make(0, 2, 5)})).empty());
    CHECK(test::read_error(raw_shard(h, {make(2, 1, 5)})).ends_with("record 0: masked positions are not strictly ascending"));
    CHECK(test::read_error(raw_shard(h, {make(0, 3, 5)})).ends_with("record 0: masked position 3 overruns the record's 3 ids"));
    CHECK(test::read_error(raw_shard(h, {make(0, 1, 99)})).empty());
    CHECK(test::read_error(raw_shard(h, {make(0, 1, 100)})).ends_with("record 0: masked label 100 is >= vocab size 100"));
  }
  SUBCASE("chat: conversations must add up, the loss mask is 0 or 1") {
    const ShardHeader h = small_header(RecordKind::kChat);
    RawBlock b;
    b.header = {1, 2, 3, 0, 0};
    put_u32(b.payload, 3);  // len
    put_u32(b.payload, 2);  // conversations
    for (uint8_t v : {1, 0, 1, 0}) b.payload.push_back(v);  // u16 conversation lens 1 + 1 != 3
    for (int i = 0; i < 6; ++i) b.payload.push_back(0);    // 3 u16 ids
    for (uint8_t m : {0, 1, 1}) b.payload.push_back(m);     // the loss mask
    CHECK(test::read_error(raw_shard(h, {b})).ends_with("record 0: conversation lengths add up to 2, the record has 3 ids"));
    b.payload[8] = 2;  // 2 + 1 = 3
    CHECK(test::read_error(raw_shard(h, {b})).empty());
    b.payload.back() = 2;
    CHECK(test::read_error(raw_shard(h, {b})).ends_with("record 0: loss mask byte 2 is not 0 or 1"));
    b.payload.pop_back();
    CHECK(test::read_error(raw_shard(h, {b})).find("records overrun their block") != std::string::npos);
  }
}

TEST_CASE("prefs records: a prompt and pairs of non-empty completions whose lengths add up") {
  const ShardHeader h = small_header(RecordKind::kPrefs);
  // One record of 4 u16 ids cut into the given parts.
  const auto make = [](std::vector<uint16_t> parts) {
    RawBlock b;
    b.header = {1, uint32_t(parts.size()), 4, 0, 0};
    put_u32(b.payload, 4);  // len
    put_u32(b.payload, uint32_t(parts.size()));
    for (uint16_t p : parts) { b.payload.push_back(uint8_t(p)); b.payload.push_back(0); }
    for (int i = 0; i < 8; ++i) b.payload.push_back(0);  // 4 u16 ids
    return b;
  };
  CHECK(test::read_error(raw_shard(h, {make({2, 1, 1})})).empty());
  CHECK(test::read_error(raw_shard(h, {make({0, 1, 1, 1, 1})})).empty());
  CHECK(test::read_error(raw_shard(h, {make({2, 2})})).ends_with("record 0: 2 parts, not a prompt and pairs of completions"));
  CHECK(test::read_error(raw_shard(h, {make({1, 1, 1, 1})})).ends_with("record 0: 4 parts, not a prompt and pairs of completions"));
  CHECK(test::read_error(raw_shard(h, {make({4, 0, 0})})).ends_with("record 0: completion 1 is empty"));
  CHECK(test::read_error(raw_shard(h, {make({1, 1, 1})})).ends_with("record 0: part lengths add up to 3, the record has 4 ids"));
  // The writer refuses the same.
  const auto write_error = [&](std::vector<uint32_t> parts) {
    const std::vector<uint32_t> ids = {1, 2, 3, 4};
    RecordView r;
    r.ids = ids;
    r.sentence_lens = parts;
    try {
      MemorySink sink;
      ShardWriter writer(sink, h);
      writer.write(r);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(write_error({2, 1, 1}).empty());
  CHECK(write_error({}) == "shard writer: record 0: 0 parts, not a prompt and pairs of completions");
  CHECK(write_error({2, 2, 0, 0}) == "shard writer: record 0: 4 parts, not a prompt and pairs of completions");
  CHECK(write_error({3, 1, 0}) == "shard writer: record 0: completion 2 is empty");
  CHECK(write_error({2, 1, 2}) == "shard writer: record 0: part lengths add up to 5, not 4");
  const std::vector<uint32_t> ids = {7, 8, 9, 10, 11, 12}, lens = {1, 2, 1, 1, 1};
  RecordView r;
  r.ids = ids;
  r.sentence_lens = lens;
  const PrefsParts parts = prefs_parts(r);
  CHECK(std::vector<uint32_t>(parts.prompt.begin(), parts.prompt.end()) == std::vector<uint32_t>{7});
  REQUIRE(parts.pairs.size() == 2);
  CHECK(std::vector<uint32_t>(parts.pairs[0].chosen.begin(), parts.pairs[0].chosen.end()) == std::vector<uint32_t>{8, 9});
  CHECK(std::vector<uint32_t>(parts.pairs[0].rejected.begin(), parts.pairs[0].rejected.end()) == std::vector<uint32_t>{10});
  CHECK(parts.pairs[1].chosen[0] == 11);
  CHECK(parts.pairs[1].rejected[0] == 12);
}

TEST_CASE("images records: an image of at least a pixel a side whose pixels add up, a loss mask") {
  const ShardHeader h = small_header(RecordKind::kImages);
  // One record of 2 u16 ids and a width x height image; the header's pixel count given apart.
  const auto make = [](uint32_t width, uint32_t height, uint32_t pixels) {
    RawBlock b;
    b.header = {1, pixels, 2, 0, 0};
    put_u32(b.payload, 2);  // len
    put_u32(b.payload, height);
    put_u32(b.payload, width);
    for (int i = 0; i < 4; ++i) b.payload.push_back(0);  // 2 u16 ids
    for (uint8_t m : {0, 1}) b.payload.push_back(m);      // the loss mask
    for (uint32_t i = 0; i < 3 * pixels; ++i) b.payload.push_back(uint8_t(i));
    return b;
  };
  CHECK(test::read_error(raw_shard(h, {make(3, 2, 6)})).empty());
  CHECK(test::read_error(raw_shard(h, {make(0, 2, 0)})).ends_with("record 0: an image of 0 x 2 pixels"));
  CHECK(test::read_error(raw_shard(h, {make(3, 2, 5)})).ends_with(
      "records overrun their block: record 0's image of 3 x 2 pixels passes the 5 pixels the block header says"));
  CHECK(test::read_error(raw_shard(h, {make(3, 2, 7)})).ends_with(
      "records overrun their block: their images add up to 6 pixels, the block header says 7"));
  // 2^16 x 2^16 pixels: the product does not wrap into agreement with a small count.
  CHECK(test::read_error(raw_shard(h, {make(65536, 65536, 1)})).find("passes the 1 pixels") != std::string::npos);
  RawBlock bad_mask = make(1, 1, 1);
  bad_mask.payload[4 * 3 + 4 + 1] = 2;
  CHECK(test::read_error(raw_shard(h, {bad_mask})).ends_with("record 0: loss mask byte 2 is not 0 or 1"));
  RawBlock short_block = make(1, 1, 1);
  short_block.payload.pop_back();
  CHECK(test::read_error(raw_shard(h, {short_block})).find("records overrun their block") != std::string::npos);

  // The writer refuses the same, and images in other kinds.
  const auto write_error = [](RecordKind kind, uint32_t width, uint32_t height, size_t bytes) {
    const std::vector<uint32_t> ids = {1, 2};
    const std::vector<uint8_t> mask = {0, 1}, pixels(bytes, 7);
    RecordView r;
    r.ids = ids;
    r.loss_mask = mask;
    r.image_width = width, r.image_height = height;
    r.pixels = pixels;
    try {
      MemorySink sink;
      ShardWriter writer(sink, small_header(kind));
      writer.write(r);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(write_error(RecordKind::kImages, 3, 2, 18).empty());
  CHECK(write_error(RecordKind::kImages, 3, 0, 0) == "shard writer: record 0: an image of 3 x 0 pixels");
  CHECK(write_error(RecordKind::kImages, 3, 2, 17) == "shard writer: record 0: 17 pixel bytes for an RGB image of 3 x 2");
  CHECK(write_error(RecordKind::kChat, 3, 2, 18) == "shard writer: record 0: an image in a chat shard");
}

TEST_CASE("what the program asked for: kind, vocabulary fingerprint and size") {
  const auto bytes = small_shard();
  ReaderOptions want_windows;
  want_windows.accept = {RecordKind::kWindows, RecordKind::kDocs};
  CHECK(test::read_error(bytes, want_windows) == "mem:0: this program reads windows or docs shards, not masked");
  ReaderOptions other_vocab;
  other_vocab.vocab_fingerprint = "sha256:bb";
  CHECK(test::read_error(bytes, other_vocab) ==
        "mem:0: the shard was made with vocabulary sha256:aa, not the one given (sha256:bb)");
  ReaderOptions same_vocab;
  same_vocab.vocab_fingerprint = "sha256:aa";
  same_vocab.vocab_size = 100;
  CHECK(test::read_error(bytes, same_vocab).empty());
  same_vocab.vocab_size = 101;
  CHECK(test::read_error(bytes, same_vocab) == "mem:0: the shard's vocabulary has 100 ids, the one given has 101");
}

TEST_CASE("sizes that lie cost no memory beyond what the input holds") {
  // A block header claiming the largest payload and frame the format allows, then nothing.
  auto bytes = raw_shard(small_header(RecordKind::kWindows), {});
  bytes.resize(bytes.size() - (kEndPrefixSize + kFooterSize));
  BlockHeader huge;
  huge.records = 1;
  huge.tokens = 1;
  huge.payload_size = kMaxPayload;
  huge.frame_size = uint32_t(ZSTD_compressBound(kMaxPayload));
  const auto head = huge.encode();
  bytes.insert(bytes.end(), head.begin(), head.end());
  bytes.resize(bytes.size() + 100, 0);
  CHECK(test::read_error(bytes).find("truncated block: its frame has") != std::string::npos);
  // A header JSON size over the limit.
  auto big_json = raw_shard(small_header(RecordKind::kWindows), {});
  store_u32(big_json.data() + 12, kMaxHeaderJson + 1);
  CHECK(test::read_error(big_json) == "mem:12: header JSON size 1048577 is not between 1 and 1048576");
}

TEST_CASE("header JSON is validated") {
  const auto with_json = [](const std::string& json) {
    std::vector<uint8_t> out(kMagic.begin(), kMagic.end());
    put_u32(out, kVersion);
    put_u32(out, uint32_t(json.size()));
    out.insert(out.end(), json.begin(), json.end());
    put_u32(out, crc32c(out.data() + 8, out.size() - 8));
    return test::read_error(out);
  };
  CHECK(with_json("{not json") == "mem:16: header is not valid JSON");
  CHECK(with_json("[]") == "mem:16: header JSON is not an object");
  CHECK(with_json(R"({"kind":"docs"})") == "mem:16: header has no \"dtype\"");
  CHECK(with_json(R"({"kind":"books","dtype":"u16"})").ends_with("is not docs, pairs, windows or masked"));
  CHECK(with_json(R"({"kind":"docs","dtype":"u16","vocab_size":70000,"vocab_fingerprint":"","special_ids":{},"provenance":{}})") ==
        "mem:16: header dtype u16 cannot hold ids of a vocabulary of 70000");
  CHECK(with_json(R"({"kind":"docs","dtype":"u16","vocab_size":10,"vocab_fingerprint":"","special_ids":{"cls":10},"provenance":{}})")
            .ends_with("is not an id below vocab size 10"));
  // Valid header, then nothing: truncated, not accepted.
  CHECK(with_json(R"({"kind":"docs","dtype":"u16","vocab_size":10,"vocab_fingerprint":"","special_ids":{},"provenance":{}})")
            .find("truncated shard") != std::string::npos);
}

TEST_CASE("a shard file that is refused keeps no descriptor open") {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / ("lmpipe-empty-" + std::to_string(::getpid()) + ".shard");
  std::ofstream(path).close();
  const auto open_descriptors = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
  };
  const auto before = open_descriptors();
  for (int i = 0; i < 100; ++i) CHECK_THROWS_AS(ShardFile{path.string()}, Error);
  CHECK(open_descriptors() == before);
  fs::remove(path);
}
