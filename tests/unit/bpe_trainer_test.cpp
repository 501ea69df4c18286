// The BPE training engine: merge order, 64-bit counts, determinism, WordPiece continuation symbols.
#include <doctest/doctest.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "tok/bpe_trainer.h"

using namespace lmpipe;
using namespace lmpipe::tok;

namespace {

TrainedBpe train_words(const std::vector<std::pair<std::string, uint64_t>>& words, BpeTrainerOptions options) {
  StringMap<uint64_t> map;
  for (const auto& [w, n] : words) map[w] += n;
  Progress progress(false, "", 0, Progress::Unit::kItems);
  return train_bpe(map, options, progress);
}

using Merges = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("the most frequent pair first, ties to the smaller pair of ids") {
  BpeTrainerOptions o;
  o.vocab_size = 14;  // 10 letters + 4 merges
  const auto t = train_words({{"low", 5}, {"lower", 2}, {"newest", 6}, {"widest", 3}}, o);
  // e s and s t are both 9: (e, s) has the smaller ids. Then l o and o w are both 7: (l, o).
  CHECK(t.merges == Merges{{"e", "s"}, {"es", "t"}, {"l", "o"}, {"lo", "w"}});
  CHECK(t.tokens.size() == 14);
  CHECK(t.tokens[0] == "d");  // the alphabet in code point order
  CHECK(t.tokens.back() == "low");
}

TEST_CASE("merging stops at the minimum frequency and when no pair is left") {
  BpeTrainerOptions o;
  o.vocab_size = 1000;
  o.min_frequency = 3;
  CHECK(train_words({{"ab", 3}, {"cd", 2}}, o).merges == Merges{{"a", "b"}});
  o.min_frequency = 0;
  const auto t = train_words({{"aaaa", 1}}, o);  // a a -> aa, then aa aa -> aaaa, then nothing
  CHECK(t.merges == Merges{{"a", "a"}, {"aa", "aa"}});
}

TEST_CASE("counts beyond 32 bits order correctly") {
  BpeTrainerOptions o;
  o.vocab_size = 5;  // a b c d + one merge
  // 5e9 wraps to about 0.7e9 in 32 bits, below 4e9: a 32-bit count would merge c d first.
  CHECK(train_words({{"ab", 5'000'000'000ull}, {"cd", 4'000'000'000ull}}, o).merges == Merges{{"a", "b"}});
  // Counts add across words past 2^32 too.
  o.vocab_size = 7;  // a b c d x y + one merge
  CHECK(train_words({{"xab", 3'000'000'000ull}, {"yab", 3'000'000'000ull}, {"cd", 5'000'000'000ull}}, o).merges ==
        Merges{{"a", "b"}});
}

TEST_CASE("the result does not depend on the order words were counted in") {
  std::vector<std::pair<std::string, uint64_t>> words;
  for (int i = 0; i < 300; ++i) words.emplace_back(fmt::format("w{}x", i * 7919 % 1000), uint64_t(1 + i % 5));
  BpeTrainerOptions o;
  o.vocab_size = 60;
  const auto forward = train_words(words, o);
  std::reverse(words.begin(), words.end());
  CHECK(train_words(words, o).merges == forward.merges);
}

TEST_CASE("special tokens first, or at fixed ids with fillers between") {
  BpeTrainerOptions o;
  o.vocab_size = 100;
  o.special_tokens = {"<s>", "</s>"};
  auto t = train_words({{"ab", 2}}, o);
  CHECK(t.tokens[0] == "<s>");
  CHECK(t.tokens[1] == "</s>");
  CHECK(t.tokens[2] == "a");
  o.special_tokens = {"[PAD]", "[UNK]", "[CLS]"};
  o.special_ids = {0, 3, 4};
  o.filler_format = "[unused{}]";
  t = train_words({{"ab", 2}}, o);
  CHECK(std::vector<std::string>(t.tokens.begin(), t.tokens.begin() + 6) ==
        std::vector<std::string>{"[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "a"});
}

TEST_CASE("WordPiece continuation symbols and merges") {
  BpeTrainerOptions o;
  o.vocab_size = 100;
  o.continuing_prefix = "##";
  const auto t = train_words({{"hug", 10}, {"pug", 5}, {"hugs", 5}}, o);
  const auto has = [&](const char* token) { return std::find(t.tokens.begin(), t.tokens.end(), token) != t.tokens.end(); };
  CHECK(has("##u"));
  CHECK(has("##g"));
  CHECK(has("##s"));
  CHECK(has("##ug"));  // ##u + ##g: the prefix of the right part is dropped
  CHECK(has("hug"));
  CHECK(!has("##h"));  // h only starts words
  CHECK(t.merges.front() == std::pair<std::string, std::string>("##u", "##g"));
}

TEST_CASE("a vocabulary smaller than the alphabet is an error") {
  BpeTrainerOptions o;
  o.vocab_size = 2;
  CHECK_THROWS_WITH_AS(train_words({{"abc", 1}}, o), doctest::Contains("--vocab-size 2 is smaller than"), Error);
}
