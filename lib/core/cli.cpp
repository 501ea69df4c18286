#include "core/cli.h"

#include <unistd.h>

#include <cstdio>
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
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed for every random choice")->capture_default_str();
  app.add_flag("-q,--quiet", options.quiet, "No progress or summary on stderr");
  app.add_flag("--progress", options.progress, "Show progress even when stderr is not a terminal");
  app.set_version_flag("--version", version_string(app.get_name()));
}

int run_main(CLI::App& app, int argc, char** argv, const std::function<void()>& body) {
  const std::string name = app.get_name();
  // CLI11 2.1 reads "-1" for an unsigned option with strtoull, which wraps it to 2^64 - 1: --steps -1
  // would train for ever. Every unsigned option refuses a minus sign instead.
  const CLI::Validator non_negative(
      [](std::string& value) { return value.find('-') == std::string::npos ? "" : "'" + value + "' is negative"; },
      "");
  for (CLI::Option* option : app.get_options())
    if (option->get_type_name() == "UINT") option->check(non_negative);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s\nRun '%s --help' for the options.\n", name.c_str(), e.what(), name.c_str());
    return 2;
  }
  try {
    body();
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", name.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
  }
  return 1;
}

}  // namespace lmpipe
