#pragma once
// Where the shipped data (share/vocab, share/corpus) is: $LMPIPE_SHARE, else PREFIX/share/lmpipe beside
// an installed program, else the source tree's share/ for programs run from the build tree.
#include <string>

namespace lmpipe {

// The share directory, or "" when none of the places exists.
std::string find_share_dir();

}  // namespace lmpipe
