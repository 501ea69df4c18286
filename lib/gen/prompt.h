#pragma once
// Few-shot prompts as GPT-3's evaluations lay them out: K solved examples, each in the same format,
// separated by blank lines, then the query in that format up to where its answer goes. The model's
// continuation is the answer.
//
// A shots file holds the examples as blocks separated by blank lines. Without a template, blocks and
// the query are used as written. With a template such as "Q: {input}\nA: {output}", a block's first line
// is its {input} and the remaining lines its {output}, and the query becomes the template up to
// {output} with the query as {input}.
#include <string>
#include <string_view>
#include <vector>

namespace lmpipe::gen {

struct Shot {
  std::string text;
  size_t line = 0;  // where the block starts in its file, from 1 (for messages)
};

// The blocks of a shots file: runs of non-blank lines (a line of spaces and tabs counts as blank).
std::vector<Shot> parse_shots(std::string_view file_text);

// --template as typed on a command line: \n, \t and \\ become a newline, a tab and a backslash.
// Throws UsageError for another escape or a template without {input} followed by {output}.
std::string parse_template(std::string_view typed);

// The text the model continues. shots_name names the shots file in errors (a block without an output
// line when the template has one).
std::string build_prompt(std::string_view query, const std::vector<Shot>& shots, const std::string& shots_name,
                         std::string_view template_text);

}  // namespace lmpipe::gen
