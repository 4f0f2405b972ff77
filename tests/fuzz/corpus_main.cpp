// Runs files through a fuzz target's LLVMFuzzerTestOneInput, so that the seed corpus (and every
// crash reproducer added to it) is a regression test in the normal build, with any compiler.
// Usage: fuzz_TARGET FILE_OR_FOLDER...  Fails when a path is missing or nothing was run: an
// empty corpus must not pass for a tested one.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_support.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs_of(const fs::path& root) {
  std::vector<fs::path> out;
  if (fs::is_regular_file(root)) {
    out.push_back(root);
  } else if (fs::is_directory(root)) {
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_regular_file()) out.push_back(entry.path());
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  std::size_t runs = 0;
  for (int a = 1; a < argc; ++a) {
    auto files = inputs_of(argv[a]);
    if (files.empty()) {
      std::fprintf(stderr, "%s: no input files\n", argv[a]);
      return 1;
    }
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "%s: cannot read\n", file.c_str());
        return 1;
      }
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // A file's own buffer, exactly its size: ASan sees any read past the input's end.
      std::vector<std::uint8_t> bytes(data.begin(), data.end());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++runs;
    }
  }
  std::printf("%zu inputs run, no invariant broken\n", runs);
  return 0;
}
