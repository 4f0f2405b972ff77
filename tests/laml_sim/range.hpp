#pragma once
// The Range header subset laml-sim honours: one `bytes=` range (RFC 9110 section 14.1.2).
// Pure code, no I/O.

#include <cstdint>
#include <string_view>

namespace laml_sim {

enum class range_kind {
  none,           // absent, malformed or several ranges: send the whole body with 200
  satisfiable,    // send 206 with first..last
  unsatisfiable,  // send 416 with Content-Range: bytes */size
};

struct range_result {
  range_kind kind = range_kind::none;
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive, < size
};

// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` (unit case-insensitive, blanks around parts allowed)
// against a body of `size` bytes. `b` beyond the end is clamped; a suffix longer than the body
// means the whole body. `a >= size` and `-0` are unsatisfiable. `a > b`, overflowing numbers and
// any comma are treated as no range.
range_result parse_range(std::string_view header, std::uint64_t size);

}  // namespace laml_sim
