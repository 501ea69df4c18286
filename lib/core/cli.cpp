#include "core/cli.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "lmpipe/version.h"

namespace lmpipe {

int CommonOptions::thread_count() const {
  if (threads > 0) return threads;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

bool CommonOptions::show_progress() const { return progress || (!quiet && ::isatty(STDERR_FILENO)); }

std::string version_string(std::string_view program) { return fmt::format("{} (lmpipe) {}", program, LMPIPE_VERSION); }

void add_common_options(CLI::App& app, CommonOptions& options, const std::string& output_help) {
  app.add_option("-o,--output", options.output, output_help)->type_name("FILE");
  app.add_option("--threads", options.threads, "Worker threads (0: one per core)")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed for every random choice")->capture_default_str();
  app.add_flag("-q,--quiet", options.quiet, "No progress or summary on stderr");
  app.add_flag("--progress", options.progress, "Show progress even when stderr is not a terminal");
  app.set_version_flag("--version", version_string(app.get_name()));
}

CLI::Validator in_range(double lo, double hi, bool lo_inclusive, bool hi_inclusive) {
  std::string words;
  if (lo > -std::numeric_limits<double>::infinity())
    words = fmt::format("{} {}", lo_inclusive ? "at least" : "above", lo);
  if (hi < std::numeric_limits<double>::infinity())
    words += fmt::format("{}{} {}", words.empty() ? "" : " and ", hi_inclusive ? "at most" : "below", hi);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || std::isnan(v)) return "'" + text + "' is not a number";
        if (std::isinf(v) || errno == ERANGE) return "'" + text + "' is not a finite number";
        const bool low_ok = lo_inclusive ? v >= lo : v > lo;
        const bool high_ok = hi_inclusive ? v <= hi : v < hi;
        return low_ok && high_ok ? "" : text + " must be " + words;
      },
      "");
}

CLI::Validator above(double min) { return in_range(min, std::numeric_limits<double>::infinity(), false, false); }

CLI::Validator at_least(double min) { return in_range(min, std::numeric_limits<double>::infinity(), true, false); }

int run_main(CLI::App& app, int argc, char** argv, const std::function<void()>& body,
             const std::function<bool(int status)>& should_print) {
  const std::string name = app.get_name();
  // CLI11 2.1 reads an unsigned option with strtoull, which wraps "-1" to 2^64 - 1 and clamps values past
  // 2^64 - 1 to it: --steps -1 or --steps 99999999999999999999 would train for ever. Every unsigned option
  // refuses both instead.
  const CLI::Validator unsigned_value(
      [](std::string& value) -> std::string {
        if (value.find('-') != std::string::npos) return "'" + value + "' is negative";
        errno = 0;
        std::strtoull(value.c_str(), nullptr, 10);
        if (errno == ERANGE)
          return fmt::format("'{}' is past the largest value, {}", value, std::numeric_limits<uint64_t>::max());
        return "";
      },
      "");
  for (CLI::Option* option : app.get_options())
    if (option->get_type_name() == "UINT") option->check(unsigned_value);
  const auto print = [&](int status) { return !should_print || should_print(status); };
  const auto fail = [&](int status, const char* what, const char* hint = "") {
    if (print(status)) std::fprintf(stderr, "%s: error: %s\n%s", name.c_str(), what, hint);
    return status;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return print(0) ? app.exit(e) : 0;
  } catch (const CLI::CallForAllHelp& e) {
    return print(0) ? app.exit(e) : 0;
  } catch (const CLI::CallForVersion& e) {
    return print(0) ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    return fail(2, e.what(), fmt::format("Run '{} --help' for the options.\n", name).c_str());
  }
  try {
    body();
    return 0;
  } catch (const FailedElsewhere& e) {
    return e.status();
  } catch (const UsageError& e) {
    return fail(2, e.what());
  } catch (const Error& e) {
    return fail(1, e.what());
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}

}  // namespace lmpipe
