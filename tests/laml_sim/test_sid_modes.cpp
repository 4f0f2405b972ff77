#include <stdexcept>

#include <doctest/doctest.h>

#include "laml_sim/sid_modes.hpp"

using namespace laml_sim;

TEST_CASE("uuid syntax") {
  CHECK(is_uuid("19e436af-5688-4307-b03b-bdb2b42b8142"));
  CHECK(is_uuid("19E436AF-5688-4307-B03B-BDB2B42B8142"));
  CHECK_FALSE(is_uuid(""));
  CHECK_FALSE(is_uuid("19e436af-5688-4307-b03b-bdb2b42b814"));    // short
  CHECK_FALSE(is_uuid("19e436af-5688-4307-b03b-bdb2b42b81422"));  // long
  CHECK_FALSE(is_uuid("19e436af_5688-4307-b03b-bdb2b42b8142"));   // separator
  CHECK_FALSE(is_uuid("19e436ag-5688-4307-b03b-bdb2b42b8142"));   // not hex
  CHECK_FALSE(is_uuid("19e436af5-688-4307-b03b-bdb2b42b8142"));   // groups shifted
}

TEST_CASE("sid modes") {
  SUBCASE("normal v4 sid") {
    const sid_mode m = parse_sid_mode("19e436af-5688-4307-b03b-bdb2b42b8142");
    CHECK(m.kind == sid_kind::normal);
  }
  SUBCASE("sized: third group 0000, last group digits") {
    const sid_mode m = parse_sid_mode("5e5e0001-0000-0000-0000-000052428800");
    CHECK(m.kind == sid_kind::sized);
    CHECK(m.sized_bytes == 52428800);
  }
  SUBCASE("third group 0000 with hex letters in the last group is normal") {
    CHECK(parse_sid_mode("5e5e0001-0000-0000-0000-00005242880a").kind == sid_kind::normal);
  }
  SUBCASE("absent: third group 0404") {
    CHECK(parse_sid_mode("5e5e0001-0000-0404-0000-000000000000").kind == sid_kind::absent);
    CHECK(parse_sid_mode("abcdef01-2345-0404-89ab-cdefabcdef01").kind == sid_kind::absent);
  }
}

TEST_CASE("sid helpers") {
  const std::string sized = sized_sid(7, 52428800);
  CHECK(sized == "00000007-0000-0000-0000-000052428800");
  CHECK(is_uuid(sized));
  CHECK(parse_sid_mode(sized).kind == sid_kind::sized);
  CHECK(parse_sid_mode(sized).sized_bytes == 52428800);
  CHECK(parse_sid_mode(sized_sid(1, 999'999'999'999ULL)).sized_bytes == 999'999'999'999ULL);
  CHECK_THROWS_AS(sized_sid(1, 1'000'000'000'000ULL), std::invalid_argument);

  const std::string absent = absent_sid(0xdeadbeef);
  CHECK(absent == "deadbeef-0000-0404-0000-000000000000");
  CHECK(parse_sid_mode(absent).kind == sid_kind::absent);

  const std::string normal = normal_sid(3);
  CHECK(is_uuid(normal));
  CHECK(parse_sid_mode(normal).kind == sid_kind::normal);
  CHECK(normal != normal_sid(4));
}

TEST_CASE("seed ignores case and separates sids") {
  CHECK(sid_seed("19e436af-5688-4307-b03b-bdb2b42b8142") ==
        sid_seed("19E436AF-5688-4307-B03B-BDB2B42B8142"));
  CHECK(sid_seed(normal_sid(1)) != sid_seed(normal_sid(2)));
  CHECK(to_lower("AbC-9") == "abc-9");
  CHECK(iequals("ABC", "abc"));
  CHECK_FALSE(iequals("ABC", "abd"));
}
