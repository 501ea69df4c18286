// make-pairs' builders on generated corpora: BERT pairs (statistics over >100k examples, shape, the
// random-next document), RoBERTa blocks, GPT windows, reading documents back from pieces, golden output.
#include <doctest/doctest.h>

#include <map>

#include "core/rng.h"
#include "data/documents.h"
#include "data/example_builders.h"
#include "shard_test_util.h"

using namespace lmpipe;
using namespace lmpipe::data;

namespace {

using Sentences = std::vector<std::vector<uint32_t>>;
constexpr uint32_t kCls = 1, kSep = 2, kVocab = 4'000'000;
// Document d uses ids [kBase + d * kSpan, kBase + (d + 1) * kSpan): every id names its document.
constexpr uint32_t kBase = 1000, kSpan = 100;

std::vector<Sentences> corpus(size_t docs, uint64_t seed, size_t min_sent = 1, size_t max_sent = 40, int64_t min_len = 3,
                              int64_t max_len = 30) {
  Rng rng(seed);
  std::vector<Sentences> out(docs);
  for (size_t d = 0; d < docs; ++d) {
    out[d].resize(size_t(rng.between(int64_t(min_sent), int64_t(max_sent))));
    for (auto& s : out[d]) {
      s.resize(size_t(rng.between(min_len, max_len)));
      for (auto& id : s) id = kBase + uint32_t(d) * kSpan + uint32_t(rng.below(kSpan));
    }
  }
  return out;
}

// A docs shard of the corpus, each document split across records as a writer splits big ones.
std::vector<uint8_t> docs_shard(const std::vector<Sentences>& docs, size_t piece_bytes = 0) {
  io::ShardHeader h = io::ShardHeader::make(io::RecordKind::kDocs, kVocab);
  io::WriterOptions options;
  if (piece_bytes) options.doc_piece_bytes = piece_bytes;
  MemorySink sink;
  io::ShardWriter w(sink, h, options);
  for (const Sentences& doc : docs) {
    test::OwnedRecord r;
    for (const auto& s : doc) {
      r.ids.insert(r.ids.end(), s.begin(), s.end());
      r.sentence_lens.push_back(uint32_t(s.size()));
    }
    w.write(r.view());
  }
  w.finish();
  return {sink.bytes.begin(), sink.bytes.end()};
}

struct Pair {
  std::vector<uint32_t> ids;
  uint32_t len_a;
  int8_t is_next;
};

std::vector<Pair> nsp_pairs(const std::vector<uint8_t>& shard_bytes, NspOptions options, uint64_t seed) {
  io::ShardReader reader(InputStream::from_memory("mem", shard_bytes));
  DocumentReader documents(reader);
  Rng rng(seed);
  std::vector<Pair> out;
  NspPairMaker(options, rng, [&](const io::RecordView& r) {
    out.push_back({{r.ids.begin(), r.ids.end()}, r.len_a, r.is_next});
  }).run(documents);
  return out;
}

uint32_t doc_of(uint32_t id) { return (id - kBase) / kSpan; }

}  // namespace

TEST_CASE("documents split into pieces read back whole") {
  const auto docs = corpus(50, 3, 1, 60);
  const auto bytes = docs_shard(docs, 200);  // pieces of about 100 ids: sentences get cut too
  io::ShardReader reader(InputStream::from_memory("mem", bytes));
  CHECK(test::read_all(bytes).size() > docs.size());
  DocumentReader documents(reader);
  Document d;
  for (const Sentences& want : docs) {
    REQUIRE(documents.next(d));
    REQUIRE(d.sentences() == want.size());
    for (size_t s = 0; s < want.size(); ++s) CHECK(std::vector<uint32_t>(d.sentence(s).begin(), d.sentence(s).end()) == want[s]);
  }
  CHECK(!documents.next(d));
}

TEST_CASE("BERT pairs: shape, statistics and the random-next document over 100k examples") {
  NspOptions o;
  o.max_len = 128;
  o.cls = kCls;
  o.sep = kSep;
  o.buffer_docs = 1000;
  // Wikipedia-like: long documents of sentences of 10-40 WordPiece ids. Without short targets the coin
  // decides nearly every pair: a chunk of one sentence (a document's last, here) must take a random
  // next segment, as in the reference.
  o.short_seq_prob = 0;
  const auto docs = corpus(4000, 7, 50, 250, 10, 40);
  const auto pairs = nsp_pairs(docs_shard(docs), o, 11);
  REQUIRE(pairs.size() >= 100000);
  size_t next = 0, short_ones = 0;
  for (const Pair& p : pairs) {
    REQUIRE(p.ids.size() <= o.max_len);
    REQUIRE(p.len_a >= 3);
    REQUIRE(p.len_a + 2 <= p.ids.size());
    CHECK(p.ids.front() == kCls);
    CHECK(p.ids[p.len_a - 1] == kSep);
    CHECK(p.ids.back() == kSep);
    const uint32_t doc_a = doc_of(p.ids[1]), doc_b = doc_of(p.ids[p.len_a]);
    for (size_t i = 1; i + 1 < p.len_a; ++i) REQUIRE(doc_of(p.ids[i]) == doc_a);
    for (size_t i = p.len_a; i + 1 < p.ids.size(); ++i) REQUIRE(doc_of(p.ids[i]) == doc_b);
    if (p.is_next == 1) {
      ++next;
      CHECK(doc_b == doc_a);
    } else {
      REQUIRE(p.is_next == 0);
      CHECK(doc_b != doc_a);  // never the same document
    }
    short_ones += p.ids.size() < 64;
  }
  const double rate = double(next) / double(pairs.size());
  CAPTURE(rate);
  CHECK(std::abs(rate - 0.5) <= 0.01);

  // With short_seq_prob 0.1 a tenth of the documents get a short target, cut into chunks of one
  // sentence that all take random next segments (create_pretraining_data.py does the same): the share
  // of real continuations drops below one half, and short examples appear.
  o.short_seq_prob = 0.1;
  const auto with_short = nsp_pairs(docs_shard(docs), o, 11);
  size_t next_short = 0;
  for (const Pair& p : with_short) {
    next_short += p.is_next == 1;
    short_ones += p.ids.size() < 32;
  }
  CHECK(double(next_short) / double(with_short.size()) < rate - 0.02);
  CHECK(short_ones > 1000);
}

TEST_CASE("BERT pairs: a fixed seed gives fixed pairs") {
  NspOptions o;
  o.max_len = 16;  // 13 ids for A and B
  o.cls = kCls;
  o.sep = kSep;
  o.short_seq_prob = 0;
  const std::vector<Sentences> docs = {
      {{1000, 1001, 1002}, {1003, 1004}, {1005, 1006, 1007, 1008}, {1009}},
      {{1100, 1101}, {1102, 1103, 1104}, {1105}},
  };
  const auto pairs = nsp_pairs(docs_shard(docs), o, 1);
  // Checked by hand: document 1 first; its whole chunk, A = 2 sentences, a random next from document 0
  // (9 ids from its first sentence on, the front one cut to fit 13); the unused third sentence is put
  // back and, alone at the end, must take a random next (document 0's last sentence). Then document 0:
  // one chunk of 4 sentences, A = 3 of them, the real next.
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[0].ids == std::vector<uint32_t>{1, 1100, 1101, 1102, 1103, 1104, 2, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 2});
  CHECK(pairs[0].len_a == 7);
  CHECK(pairs[0].is_next == 0);
  CHECK(pairs[1].ids == std::vector<uint32_t>{1, 1105, 2, 1009, 2});
  CHECK(pairs[1].len_a == 3);
  CHECK(pairs[1].is_next == 0);
  CHECK(pairs[2].ids == std::vector<uint32_t>{1, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 2, 1009, 2});
  CHECK(pairs[2].len_a == 11);
  CHECK(pairs[2].is_next == 1);
}

TEST_CASE("RoBERTa blocks: whole sentences, eos after each, bos in front, documents apart or together") {
  const std::vector<Sentences> docs = {{{10, 11, 12}, {13, 14}}, {{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}}, {{30}}};
  const auto bytes = docs_shard(docs);
  const auto run = [&](bool cross) {
    io::ShardReader reader(InputStream::from_memory("mem", bytes));
    SentenceReader sentences(reader);
    std::vector<std::vector<uint32_t>> blocks;
    SentencePacker packer(8, 0, 2, cross, [&](const io::RecordView& r) { blocks.emplace_back(r.ids.begin(), r.ids.end()); });
    std::vector<uint32_t> s;
    bool ends = false;
    while (sentences.next(s, ends)) {
      if (!s.empty()) packer.add_sentence(s);
      if (ends) packer.end_document();
    }
    packer.finish();
    return blocks;
  };
  using B = std::vector<std::vector<uint32_t>>;
  // FULL-SENTENCES: across documents, an extra </s> (2) between them; the 11-id sentence fills blocks alone.
  CHECK(run(true) == B{{0, 10, 11, 12, 2, 13, 14, 2}, {0, 2}, {0, 20, 21, 22, 23, 24, 25, 26}, {0, 27, 28, 29, 2, 2, 30, 2}, {0, 2}});
  // DOC-SENTENCES: blocks end with their document.
  CHECK(run(false) == B{{0, 10, 11, 12, 2, 13, 14, 2}, {0, 20, 21, 22, 23, 24, 25, 26}, {0, 27, 28, 29, 2}, {0, 30, 2}});
}

TEST_CASE("GPT windows concatenate back to the stream with eot between documents") {
  const auto docs = corpus(300, 5, 1, 30);
  std::vector<uint32_t> stream;
  for (size_t d = 0; d < docs.size(); ++d) {
    if (d > 0) stream.push_back(9);
    for (const auto& s : docs[d]) stream.insert(stream.end(), s.begin(), s.end());
  }
  const auto bytes = docs_shard(docs, 300);
  for (size_t stride : {size_t(64), size_t(32), size_t(65)}) {
    CAPTURE(stride);
    io::ShardReader reader(InputStream::from_memory("mem", bytes));
    SentenceReader sentences(reader);
    std::vector<std::vector<uint32_t>> windows;
    WindowCutter cutter(65, stride, 9, [&](const io::RecordView& r) { windows.emplace_back(r.ids.begin(), r.ids.end()); });
    std::vector<uint32_t> s;
    bool ends = false;
    while (sentences.next(s, ends)) {
      cutter.add(s);
      if (ends) cutter.end_document();
    }
    REQUIRE(windows.size() == (stream.size() - 65) / stride + 1);
    for (size_t w = 0; w < windows.size(); ++w)
      CHECK(windows[w] == std::vector<uint32_t>(stream.begin() + long(w * stride), stream.begin() + long(w * stride + 65)));
    CHECK(cutter.dropped() == stream.size() - ((windows.size() - 1) * stride + 65));
  }
}
