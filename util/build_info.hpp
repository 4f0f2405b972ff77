#pragma once
// What was built: recgate's version (the project version in CMakeLists.txt) and the source
// revision (git's short commit id, with "-dirty" when tracked files had uncommitted changes;
// "unknown" outside a git checkout). The revision is read again at every build
// (util/build_revision.cmake) and its source rewritten only when it changed.

#include <string_view>

namespace recgate::build {

std::string_view version();
std::string_view revision();

}  // namespace recgate::build
