#include "core/paths.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "lmpipe/version.h"

namespace lmpipe {

std::string find_share_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("LMPIPE_SHARE"); env != nullptr && *env != '\0') return env;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "lmpipe";
    if (fs::is_directory(installed, ec)) return installed.string();
  }
  if (fs::is_directory(LMPIPE_SOURCE_SHARE_DIR, ec)) return LMPIPE_SOURCE_SHARE_DIR;
  return "";
}

}  // namespace lmpipe
