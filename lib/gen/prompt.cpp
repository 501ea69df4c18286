#include "gen/prompt.h"

#include <fmt/format.h>

#include "core/error.h"

namespace lmpipe::gen {
namespace {

constexpr std::string_view kInput = "{input}", kOutput = "{output}";

bool blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

// The template with its placeholders filled in one pass (so an input that contains "{output}" stays as
// it is).
std::string fill_template(std::string_view tmpl, std::string_view input, std::string_view output) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.substr(i).starts_with(kInput)) {
      out += input;
      i += kInput.size();
    } else if (tmpl.substr(i).starts_with(kOutput)) {
      out += output;
      i += kOutput.size();
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

}  // namespace

std::vector<Shot> parse_shots(std::string_view file_text) {
  std::vector<Shot> shots;
  Shot current;
  size_t line_number = 0;
  const auto close = [&] {
    if (!current.text.empty()) shots.push_back(std::move(current));
    current = Shot{};
  };
  while (!file_text.empty()) {
    const size_t end = file_text.find('\n');
    std::string_view line = file_text.substr(0, end);
    file_text.remove_prefix(end == std::string_view::npos ? file_text.size() : end + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (blank(line)) {
      close();
      continue;
    }
    if (current.text.empty()) {
      current.line = line_number;
    } else {
      current.text += '\n';
    }
    current.text += line;
  }
  close();
  return shots;
}

std::string parse_template(std::string_view typed) {
  std::string out;
  for (size_t i = 0; i < typed.size(); ++i) {
    if (typed[i] != '\\') {
      out += typed[i];
      continue;
    }
    if (i + 1 == typed.size()) throw UsageError("--template ends with a lone backslash");
    const char c = typed[++i];
    if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == '\\') out += '\\';
    else throw UsageError(fmt::format("--template: unknown escape \\{} (\\n, \\t and \\\\ are known)", c));
  }
  const size_t input = out.find(kInput), output = out.find(kOutput);
  if (input == std::string::npos || output == std::string::npos || output < input)
    throw UsageError("--template needs {input} and, after it, {output}");
  return out;
}

std::string build_prompt(std::string_view query, const std::vector<Shot>& shots, const std::string& shots_name,
                         std::string_view template_text) {
  std::string prompt;
  for (const Shot& shot : shots) {
    if (template_text.empty()) {
      prompt += shot.text;
    } else {
      const size_t newline = shot.text.find('\n');
      if (newline == std::string::npos)
        throw Error(fmt::format("{}:{}: this example has no output line (with --template, an example is its input "
                                "line followed by its output lines)",
                                shots_name, shot.line));
      const std::string_view text = shot.text;
      prompt += fill_template(template_text, text.substr(0, newline), text.substr(newline + 1));
    }
    prompt += "\n\n";
  }
  if (template_text.empty()) {
    prompt += query;
  } else {
    prompt += fill_template(template_text.substr(0, template_text.find(kOutput)), query, "");
  }
  return prompt;
}

}  // namespace lmpipe::gen
