#pragma once
// The two kinds of failure a program reports. Library code throws them; cmd/ mains turn them into one
// line on stderr ("tool: error: WHERE: WHAT") and an exit status (1 for Error, 2 for UsageError).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lmpipe {

// Bad input, a failed system call, anything the user can act on. what() is "WHERE: WHAT" or "WHAT".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Flags that do not make sense together, or that the program cannot honour.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure somebody else reports: one rank of a data-parallel job leaves with the job's exit status after
// another rank printed the error. Not an exception for callers to handle; run_main ends the program quietly.
class FailedElsewhere {
 public:
  explicit FailedElsewhere(int status) : status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Throws Error("WHERE:OFFSET: WHAT"), the form every reader uses for bad bytes in a file or pipe.
[[noreturn]] void fail_at(std::string_view where, uint64_t offset, std::string_view what);

// Throws Error("WHAT: strerror(errno)") for a failed system call.
[[noreturn]] void fail_errno(std::string_view what);

}  // namespace lmpipe
