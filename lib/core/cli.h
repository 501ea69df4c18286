#pragma once
// What every program's command line shares (docs/DESIGN.md, "Command-line contract"): -o, --threads,
// --seed, --quiet, --progress, --help, --version, and the mapping of failures to one stderr line and an
// exit status. A cmd/ main declares its own flags on the CLI::App, then hands its body to run_main().
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace lmpipe {

struct CommonOptions {
  std::string output;  // -o; "" or "-" is stdout
  int threads = 0;     // 0: one per core
  uint64_t seed = 0;
  bool quiet = false;
  bool progress = false;  // force the progress display even when stderr is not a terminal

  int thread_count() const;   // threads resolved against the machine
  bool show_progress() const;  // --progress, or stderr is a terminal and not --quiet
};

// Registers the shared flags. output_help describes what -o receives.
void add_common_options(CLI::App& app, CommonOptions& options, const std::string& output_help);

// Validators for numeric flags, whose errors say the range in words ("--lr: -1 must be above 0"). Each
// also refuses NaN, infinities and text that is not a number.
CLI::Validator above(double min);     // min < value
CLI::Validator at_least(double min);  // min <= value
// lo <= value (lo < value without lo_inclusive), value < hi (value <= hi with hi_inclusive).
CLI::Validator in_range(double lo, double hi, bool lo_inclusive, bool hi_inclusive);

// Parses argv and runs body. Returns the exit status: 0; 1 after an Error (or any other failure),
// printed as "NAME: error: WHAT"; 2 after a usage error, printed with a pointer to --help. When body
// throws FailedElsewhere, nothing is printed and its status is returned. should_print, when given, is
// asked with the status before an error is printed: a program that is one of several ranks decides there
// which rank prints (train::Distributed::report_failure).
int run_main(CLI::App& app, int argc, char** argv, const std::function<void()>& body,
             const std::function<bool(int status)>& should_print = {});

// "NAME (lmpipe) VERSION", what --version prints.
std::string version_string(std::string_view program);

}  // namespace lmpipe
