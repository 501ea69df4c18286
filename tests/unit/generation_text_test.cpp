// The text side of generation: streaming that holds back split UTF-8 characters and possible stop
// strings, and few-shot prompt building.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "gen/prompt.h"
#include "gen/text_stream.h"

using namespace lmpipe;
using namespace lmpipe::gen;

TEST_CASE("incomplete UTF-8 tails") {
  CHECK(incomplete_utf8_tail("") == 0);
  CHECK(incomplete_utf8_tail("abc") == 0);
  CHECK(incomplete_utf8_tail("a\xC3") == 1);               // first byte of é
  CHECK(incomplete_utf8_tail("a\xC3\xA9") == 0);           // é
  CHECK(incomplete_utf8_tail("\xE2\x82") == 2);            // two bytes of €
  CHECK(incomplete_utf8_tail("\xE2\x82\xAC") == 0);        // €
  CHECK(incomplete_utf8_tail("x\xF0\x9F\x98") == 3);       // three bytes of an emoji
  CHECK(incomplete_utf8_tail("\xF0\x9F\x98\x80") == 0);    // the emoji
  CHECK(incomplete_utf8_tail("a\x80") == 0);               // a stray continuation byte is final
  CHECK(incomplete_utf8_tail("\x80\x80\x80\x80") == 0);
}

TEST_CASE("streamed text holds back a character split across tokens") {
  TextStream s;
  s.push("caf");
  CHECK(s.take() == "caf");
  s.push("\xC3");
  CHECK(s.take() == "");
  s.push("\xA9 \xE2");
  CHECK(s.take() == "\xC3\xA9 ");
  s.push("\x82");
  CHECK(s.take() == "");
  CHECK(s.finish() == "\xE2\x82");  // the end passes an unfinished character on as it is
  CHECK(s.text() == "caf\xC3\xA9 \xE2\x82");
}

TEST_CASE("stop strings end the text and are held back while they may begin") {
  TextStream s({"\n\n", "END"});
  CHECK_FALSE(s.push("Hello"));
  CHECK(s.take() == "Hello");
  CHECK_FALSE(s.push(" E"));
  CHECK(s.take() == " ");  // "E" may begin "END"
  CHECK(s.push("ND."));  // "END" has appeared: the text ends before it
  CHECK(s.stopped());
  CHECK(s.take() == "");
  CHECK(s.text() == "Hello ");
}

TEST_CASE("a stop string across several tokens, and false starts released") {
  TextStream s({"<stop>"});
  CHECK_FALSE(s.push("a<st"));
  CHECK(s.take() == "a");
  CHECK_FALSE(s.push("ar"));  // "<star" is not a beginning of "<stop>"
  CHECK(s.take() == "<star");
  CHECK_FALSE(s.push("<"));
  CHECK(s.take() == "");
  CHECK_FALSE(s.push("sto"));
  CHECK(s.push("p> more"));
  CHECK(s.take() == "");
  CHECK(s.finish() == "");
  CHECK(s.text() == "a<star");
  CHECK(s.push("ignored"));  // after the stop nothing is added
  CHECK(s.text() == "a<star");
}

TEST_CASE("without stop strings everything complete is released at once") {
  TextStream s;
  s.push("line one\n");
  s.push("\n");
  CHECK(s.take() == "line one\n\n");
  CHECK_FALSE(s.stopped());
}

TEST_CASE("shots files are blocks separated by blank lines") {
  const auto shots = parse_shots("\n\nQ1\nA1\n\n  \t\nQ2\r\nA2a\nA2b\n\n\nQ3\nA3");
  REQUIRE(shots.size() == 3);
  CHECK(shots[0].text == "Q1\nA1");
  CHECK(shots[0].line == 3);
  CHECK(shots[1].text == "Q2\nA2a\nA2b");
  CHECK(shots[1].line == 7);
  CHECK(shots[2].text == "Q3\nA3");
  CHECK(shots[2].line == 12);
  CHECK(parse_shots("").empty());
  CHECK(parse_shots("\n \n").empty());
}

TEST_CASE("prompts without a template put the examples and the query as written") {
  const auto shots = parse_shots("sea otter => loutre de mer\n\ncheese => fromage\n");
  CHECK(build_prompt("peppermint =>", shots, "shots.txt", "") ==
        "sea otter => loutre de mer\n\ncheese => fromage\n\npeppermint =>");
  CHECK(build_prompt("just this", {}, "", "") == "just this");
}

TEST_CASE("prompts with a template lay out each example and the query") {
  const std::string tmpl = parse_template("Q: {input}\\nA: {output}");
  CHECK(tmpl == "Q: {input}\nA: {output}");
  const auto shots = parse_shots("2+2\n4\n\nWho wrote Hamlet?\nShakespeare\n");
  CHECK(build_prompt("3+5", shots, "s", tmpl) == "Q: 2+2\nA: 4\n\nQ: Who wrote Hamlet?\nA: Shakespeare\n\nQ: 3+5\nA: ");
  // Zero-shot with a template frames the query alone; an input containing a placeholder stays as it is.
  CHECK(build_prompt("{output}?", {}, "", tmpl) == "Q: {output}?\nA: ");
}

TEST_CASE("bad templates and examples are errors") {
  CHECK_THROWS_AS(parse_template("no placeholders"), UsageError);
  CHECK_THROWS_AS(parse_template("{output} before {input}"), UsageError);
  CHECK_THROWS_AS(parse_template("{input} {output} \\x"), UsageError);
  CHECK_THROWS_AS(parse_template("{input} {output}\\"), UsageError);
  CHECK(parse_template("{input}\\t{output}\\\\") == "{input}\t{output}\\");
  const auto shots = parse_shots("only an input\n");
  try {
    build_prompt("q", shots, "shots.txt", "{input} -> {output}");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "shots.txt:1: this example has no output line (with --template, an example is its "
                                   "input line followed by its output lines)");
  }
}
