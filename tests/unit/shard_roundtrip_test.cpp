// Shards written and read back: every kind and dtype, many blocks, concatenation, pipes, random access.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "io/shard_file.h"
#include "shard_test_util.h"

using namespace lmpipe;
using namespace lmpipe::io;
using lmpipe::test::OwnedRecord;

namespace {

const RecordKind kAllKinds[] = {RecordKind::kDocs, RecordKind::kPairs, RecordKind::kWindows, RecordKind::kMasked,
                                 RecordKind::kChat, RecordKind::kPrefs, RecordKind::kImages};

ShardHeader header_for(RecordKind kind, uint32_t vocab_size) {
  ShardHeader h = ShardHeader::make(kind, vocab_size, "sha256:0123");
  h.special_ids = {{"cls", 1}, {"sep", 2}};
  h.provenance = make_provenance("test", {"a", "b"}, 7);
  h.extra["max_len"] = 128;
  return h;
}

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string("lmpipe-test-") + std::to_string(::getpid()) + "-" + name))
      .string();
}

}  // namespace

TEST_CASE("every kind and dtype round-trips through many blocks") {
  for (RecordKind kind : kAllKinds) {
    for (uint32_t vocab : {50257u, 65536u, 65537u, 250000u}) {
      CAPTURE(kind_name(kind));
      CAPTURE(vocab);
      const auto records = test::random_records(kind, vocab, 400, vocab + uint32_t(kind));
      const ShardHeader header = header_for(kind, vocab);
      CHECK(header.dtype == (vocab <= 65536 ? TokenDtype::kU16 : TokenDtype::kU32));
      WriterOptions small;
      small.block_target = 20000;  // many blocks
      const auto bytes = test::write_shard(header, records, small);
      std::vector<ShardHeader> headers;
      CHECK(test::read_all(bytes, {}, &headers) == records);
      REQUIRE(headers.size() == 1);
      CHECK(headers[0].kind == kind);
      CHECK(headers[0].dtype == header.dtype);
      CHECK(headers[0].vocab_size == vocab);
      CHECK(headers[0].vocab_fingerprint == "sha256:0123");
      CHECK(headers[0].special_ids == header.special_ids);
      CHECK(headers[0].provenance == header.provenance);
      CHECK(headers[0].extra["max_len"] == 128);

      ShardReader reader(InputStream::from_memory("mem", bytes));
      while (reader.next_block() != nullptr) {
      }
      CHECK(reader.totals().records == records.size());
      CHECK(reader.totals().blocks > 5);
      CHECK(reader.totals().stored_bytes == bytes.size());
    }
  }
}

TEST_CASE("an empty shard has a header and an end but no blocks") {
  const auto bytes = test::write_shard(header_for(RecordKind::kWindows, 100), {});
  std::vector<ShardHeader> headers;
  CHECK(test::read_all(bytes, {}, &headers).empty());
  CHECK(headers.size() == 1);
}

TEST_CASE("a docs record too large for a block is split into pieces that reassemble") {
  std::vector<OwnedRecord> docs(3);
  docs[0].ids.assign(5000, 7);
  docs[0].sentence_lens = {10, 3000, 1990};  // the middle sentence alone is over the budget
  docs[1].ids = {1, 2, 3};
  docs[1].sentence_lens = {3};
  docs[2].ids.assign(2000, 9);  // no sentence lengths: one sentence
  WriterOptions options;
  options.doc_piece_bytes = 1000;
  const auto pieces = test::read_all(test::write_shard(header_for(RecordKind::kDocs, 100), docs, options));
  REQUIRE(pieces.size() > 10);
  // Reassemble documents and their sentences from the flags.
  std::vector<OwnedRecord> joined;
  bool continuing = false, sentence_open = false;
  for (const OwnedRecord& p : pieces) {
    CHECK(p.ids.size() * 2 + 2 * p.sentence_lens.size() + 9 <= 1000);
    if (!continuing) joined.emplace_back();
    OwnedRecord& d = joined.back();
    d.ids.insert(d.ids.end(), p.ids.begin(), p.ids.end());
    for (size_t i = 0; i < p.sentence_lens.size(); ++i) {
      if (i == 0 && sentence_open) d.sentence_lens.back() += p.sentence_lens[0];
      else d.sentence_lens.push_back(p.sentence_lens[i]);
    }
    continuing = p.doc_flags & kDocContinues;
    sentence_open = p.doc_flags & kSentenceContinues;
  }
  docs[2].sentence_lens = {2000};
  CHECK(joined == docs);
}

TEST_CASE("a sentence longer than a u16 length is cut, and read back with its continuation flag") {
  OwnedRecord doc;
  doc.ids.assign(70000, 3);
  doc.sentence_lens = {5, 69990, 5};
  const auto pieces = test::read_all(test::write_shard(header_for(RecordKind::kDocs, 100), {doc}));
  // Pieces end at a sentence boundary before a sentence is cut.
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0].sentence_lens == std::vector<uint32_t>{5});
  CHECK(pieces[0].doc_flags == kDocContinues);
  CHECK(pieces[1].sentence_lens == std::vector<uint32_t>{65535});
  CHECK(pieces[1].doc_flags == (kDocContinues | kSentenceContinues));
  CHECK(pieces[2].sentence_lens == std::vector<uint32_t>{69990 - 65535, 5});
  CHECK(pieces[2].doc_flags == 0);
  // A u32 shard keeps it whole.
  CHECK(test::read_all(test::write_shard(header_for(RecordKind::kDocs, 70000), {doc})) == std::vector<OwnedRecord>{doc});
}

TEST_CASE("concatenated shards read as one stream, and mixed dtypes are fine") {
  const auto a = test::random_records(RecordKind::kPairs, 30522, 50, 1);
  const auto b = test::random_records(RecordKind::kPairs, 30522, 70, 2);
  ShardHeader h16 = header_for(RecordKind::kPairs, 30522);
  ShardHeader h32 = h16;
  h32.dtype = TokenDtype::kU32;
  auto bytes = test::write_shard(h16, a);
  const auto second = test::write_shard(h32, b);
  bytes.insert(bytes.end(), second.begin(), second.end());
  std::vector<ShardHeader> headers;
  auto all = a;
  all.insert(all.end(), b.begin(), b.end());
  CHECK(test::read_all(bytes, {}, &headers) == all);
  CHECK(headers.size() == 2);
  CHECK(headers[1].dtype == TokenDtype::kU32);
}

TEST_CASE("concatenating shards of different kinds or vocabularies is an error") {
  auto bytes = test::write_shard(header_for(RecordKind::kPairs, 1000), test::random_records(RecordKind::kPairs, 1000, 5, 1));
  const size_t first = bytes.size();
  SUBCASE("kind") {
    const auto other = test::write_shard(header_for(RecordKind::kWindows, 1000), {});
    bytes.insert(bytes.end(), other.begin(), other.end());
    CHECK(test::read_error(bytes) == "mem:" + std::to_string(first) + ": a windows shard follows pairs shards in the same stream");
  }
  SUBCASE("vocabulary") {
    const auto other = test::write_shard(header_for(RecordKind::kPairs, 1001), {});
    bytes.insert(bytes.end(), other.begin(), other.end());
    CHECK(test::read_error(bytes).find("different vocabulary") != std::string::npos);
  }
}

TEST_CASE("several inputs read as one stream, and a pipe reads without seeking") {
  const ShardHeader h = header_for(RecordKind::kWindows, 50257);
  const auto a = test::random_records(RecordKind::kWindows, 50257, 300, 3, 257);
  const auto b = test::random_records(RecordKind::kWindows, 50257, 200, 4, 257);
  const std::string path_a = temp_path("a.shard"), path_b = temp_path("b.shard");
  for (const auto& [path, records] : {std::pair{path_a, a}, std::pair{path_b, b}}) {
    OutputFile out(path, OutputContent::kBinary);
    ShardWriter w(out, h);
    for (const auto& r : records) w.write(r.view());
    w.finish();
    out.commit();
  }
  {
    ShardReader reader({path_a, path_b});
    std::vector<OwnedRecord> got;
    RecordView v;
    while (reader.next(v)) got.push_back(OwnedRecord::from(v));
    auto all = a;
    all.insert(all.end(), b.begin(), b.end());
    CHECK(got == all);
    CHECK(reader.bytes_consumed() == std::filesystem::file_size(path_a) + std::filesystem::file_size(path_b));
  }
  {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const auto bytes = test::write_shard(h, a);
    std::thread producer([&] {
      size_t done = 0;
      while (done < bytes.size()) {  // small writes, so the reader sees short reads
        const ssize_t n = ::write(fds[1], bytes.data() + done, std::min<size_t>(777, bytes.size() - done));
        if (n <= 0) break;
        done += size_t(n);
      }
      ::close(fds[1]);
    });
    ShardReader reader({"/dev/fd/" + std::to_string(fds[0])});
    std::vector<OwnedRecord> got;
    RecordView v;
    while (reader.next(v)) got.push_back(OwnedRecord::from(v));
    producer.join();
    ::close(fds[0]);
    CHECK(got == a);
  }
  std::remove(path_a.c_str());
  std::remove(path_b.c_str());
}

TEST_CASE("random access by the index, also across concatenated shards") {
  const ShardHeader h = header_for(RecordKind::kMasked, 30522);
  const auto a = test::random_records(RecordKind::kMasked, 30522, 300, 5);
  const auto b = test::random_records(RecordKind::kMasked, 30522, 100, 6);
  WriterOptions small;
  small.block_target = 10000;
  auto bytes = test::write_shard(h, a, small);
  const auto second = test::write_shard(h, b, small);
  bytes.insert(bytes.end(), second.begin(), second.end());
  const std::string path = temp_path("ra.shard");
  {
    OutputFile out(path, OutputContent::kBinary);
    out.write(bytes.data(), bytes.size());
    out.commit();
  }
  ShardFile file(path);
  CHECK(file.headers().size() == 2);
  CHECK(file.records() == a.size() + b.size());
  REQUIRE(file.blocks().size() > 4);
  auto all = a;
  all.insert(all.end(), b.begin(), b.end());
  Block block;
  for (size_t i = file.blocks().size(); i-- > 0;) {  // backwards: no reliance on order
    file.read_block(i, block);
    REQUIRE(block.size() == file.blocks()[i].records);
    for (size_t r = 0; r < block.size(); ++r)
      CHECK(OwnedRecord::from(block.record(r)) == all[file.blocks()[i].first_record + r]);
  }
  CHECK(file.blocks().back().shard == 1);

  // Truncating the file loses the last footer: random access refuses, naming the place.
  std::filesystem::resize_file(path, bytes.size() - 1);
  CHECK_THROWS_WITH_AS(ShardFile{path}, doctest::Contains("no end-of-shard index here"), Error);
  std::remove(path.c_str());
}

TEST_CASE("the writer refuses records that do not fit the header") {
  MemorySink sink;
  ShardWriter w(sink, header_for(RecordKind::kMasked, 100));
  OwnedRecord r;
  r.ids = {1, 2, 3};
  r.len_a = 1;
  r.is_next = 1;
  r.positions = {2, 1};
  r.labels = {5, 6};
  CHECK_THROWS_WITH_AS(w.write(r.view()), doctest::Contains("not strictly ascending"), Error);
  r.positions = {1, 3};
  CHECK_THROWS_WITH_AS(w.write(r.view()), doctest::Contains("outside the record"), Error);
  r.positions = {1, 2};
  r.labels = {5, 100};
  CHECK_THROWS_WITH_AS(w.write(r.view()), doctest::Contains(">= vocab size 100"), Error);

  MemorySink sink2;
  ShardWriter windows(sink2, header_for(RecordKind::kWindows, 100));
  OwnedRecord pair;
  pair.ids = {1};
  pair.len_a = 1;
  CHECK_THROWS_WITH_AS(windows.write(pair.view()), doctest::Contains("pair fields in a windows shard"), Error);
}
