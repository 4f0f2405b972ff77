#pragma once
// Shared by the fuzz targets (one .cpp each): the invariant check and the input's layout.
// A target is built either as a libFuzzer binary (RECGATE_FUZZ=ON, clang) or, linked with
// corpus_main.cpp, as a regression test that runs its seed corpus under ctest.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

// An invariant of the code under test. A failure aborts: libFuzzer keeps the input as a crash,
// the corpus regression test fails.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace recgate::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return size == 0 ? std::string_view{}
                   : std::string_view(reinterpret_cast<const char*>(data), size);
}

// The input as `count` fields: one a line, the last taking the rest (newlines included); absent
// fields are empty. Seeds stay readable: one header or value a line.
inline std::vector<std::string_view> fields(std::string_view text, std::size_t count) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < count) {
    auto nl = text.find('\n');
    if (nl == std::string_view::npos) break;
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  out.push_back(text);
  out.resize(count);
  return out;
}

}  // namespace recgate::fuzz
