#include <doctest/doctest.h>

#include "laml_sim/range.hpp"

using namespace laml_sim;

TEST_CASE("range parsing") {
  auto check = [](std::string_view header, std::uint64_t size, range_kind kind,
                  std::uint64_t first = 0, std::uint64_t last = 0) {
    CAPTURE(header);
    CAPTURE(size);
    const range_result r = parse_range(header, size);
    CHECK(r.kind == kind);
    if (kind == range_kind::satisfiable) {
      CHECK(r.first == first);
      CHECK(r.last == last);
    }
  };
  SUBCASE("a-b") {
    check("bytes=0-99", 1000, range_kind::satisfiable, 0, 99);
    check("bytes=10-10", 1000, range_kind::satisfiable, 10, 10);
    check("bytes=900-5000", 1000, range_kind::satisfiable, 900, 999);  // clamped
    check("BYTES = 1 - 2 ", 1000, range_kind::satisfiable, 1, 2);
  }
  SUBCASE("a-") {
    check("bytes=100-", 1000, range_kind::satisfiable, 100, 999);
    check("bytes=999-", 1000, range_kind::satisfiable, 999, 999);
  }
  SUBCASE("-n") {
    check("bytes=-100", 1000, range_kind::satisfiable, 900, 999);
    check("bytes=-5000", 1000, range_kind::satisfiable, 0, 999);
  }
  SUBCASE("unsatisfiable") {
    check("bytes=1000-", 1000, range_kind::unsatisfiable);
    check("bytes=1000-2000", 1000, range_kind::unsatisfiable);
    check("bytes=-0", 1000, range_kind::unsatisfiable);
    check("bytes=0-", 0, range_kind::unsatisfiable);
  }
  SUBCASE("multiple or malformed: no range") {
    check("bytes=0-1,5-6", 1000, range_kind::none);
    check("bytes=0-1, 5-", 1000, range_kind::none);
    check("bytes=5-1", 1000, range_kind::none);
    check("bytes=abc", 1000, range_kind::none);
    check("bytes=-", 1000, range_kind::none);
    check("bytes=1-x", 1000, range_kind::none);
    check("items=0-1", 1000, range_kind::none);
    check("0-1", 1000, range_kind::none);
    check("", 1000, range_kind::none);
    check("bytes=99999999999999999999-", 1000, range_kind::none);  // overflow
  }
}
