#include <doctest/doctest.h>

#include "proxy/policy/range_plan.hpp"

using namespace recgate;

namespace {

response_plan plan(std::string_view range, std::string_view if_range = {},
                   std::string_view if_none_match = {}) {
  representation rep{1000, "\"abc\"", "Mon, 06 May 2024 17:20:11 GMT"};
  return plan_response(rep, {if_none_match, range, if_range});
}

}  // namespace

TEST_CASE("single ranges: a-b, a-, -n") {
  auto p = plan("bytes=0-99");
  CHECK(p.status == 206);
  CHECK(p.begin == 0);
  CHECK(p.end == 100u);
  CHECK(p.content_range == "bytes 0-99/1000");

  p = plan("bytes=900-");
  CHECK(p.status == 206);
  CHECK(p.begin == 900);
  CHECK(p.end == 1000u);
  CHECK(p.content_range == "bytes 900-999/1000");

  p = plan("bytes=-100");
  CHECK(p.status == 206);
  CHECK(p.begin == 900);
  CHECK(p.content_range == "bytes 900-999/1000");

  p = plan("bytes=-5000");  // more than the body: the whole body as a range
  CHECK(p.status == 206);
  CHECK(p.begin == 0);
  CHECK(p.content_range == "bytes 0-999/1000");

  p = plan("bytes=990-5000");  // last clamped to the end
  CHECK(p.status == 206);
  CHECK(p.content_range == "bytes 990-999/1000");
  CHECK(p.end == 1000u);
}

TEST_CASE("unsatisfiable ranges: 416 with bytes */length") {
  for (auto r : {"bytes=1000-", "bytes=1000-1001", "bytes=-0"}) {
    CAPTURE(r);
    auto p = plan(r);
    CHECK(p.status == 416);
    CHECK(p.content_range == "bytes */1000");
  }
}

TEST_CASE("several, malformed or foreign ranges: the whole body") {
  for (auto r : {"bytes=0-1,5-6", "bytes=5-1", "bytes=a-b", "bytes=", "items=0-1", "bytes 0-1",
                 "bytes=--1", "bytes=0-1-2"}) {
    CAPTURE(r);
    auto p = plan(r);
    CHECK(p.status == 200);
    CHECK(p.begin == 0);
    CHECK_FALSE(p.end);
  }
}

TEST_CASE("If-None-Match: 304 on a matching tag, weak comparison") {
  CHECK(plan("", "", "\"abc\"").status == 304);
  CHECK(plan("", "", "W/\"abc\"").status == 304);
  CHECK(plan("", "", "\"x\", \"abc\"").status == 304);
  CHECK(plan("", "", "*").status == 304);
  CHECK(plan("bytes=0-1", "", "\"abc\"").status == 304);
  CHECK(plan("", "", "\"abd\"").status == 200);
  // No validator yet (a fill in progress): nothing matches, not even "*".
  CHECK(plan_response({1000, "", ""}, {"*", "", ""}).status == 200);
}

TEST_CASE("If-Range: the range only when the validator still matches, strongly") {
  CHECK(plan("bytes=0-9", "\"abc\"").status == 206);
  CHECK(plan("bytes=0-9", "\"old\"").status == 200);
  CHECK(plan("bytes=0-9", "W/\"abc\"").status == 200);
  CHECK(plan("bytes=0-9", "Mon, 06 May 2024 17:20:11 GMT").status == 206);
  CHECK(plan("bytes=0-9", "Tue, 07 May 2024 17:20:11 GMT").status == 200);
}

TEST_CASE("an unknown length: Range is ignored until the length is known") {
  auto p = plan_response({std::nullopt, "", ""}, {"", "bytes=0-9", ""});
  CHECK(p.status == 200);
  CHECK_FALSE(p.end);
}

TEST_CASE("content_range_length: the complete length of a 206's Content-Range, nothing else") {
  CHECK(content_range_length("bytes 0-99/4194304") == 4194304u);
  CHECK(content_range_length("bytes 3000000-4194303/4194304") == 4194304u);
  CHECK_FALSE(content_range_length("bytes 0-99/*"));
  CHECK_FALSE(content_range_length("bytes 0-99/"));
  CHECK_FALSE(content_range_length("bytes 0-99/12x"));
  CHECK_FALSE(content_range_length("items 0-99/100"));
  CHECK_FALSE(content_range_length("bytes 0-99/99999999999999999999999"));
  CHECK_FALSE(content_range_length(""));
}

TEST_CASE("plain_range: what may be asked of the upstream before the length is known") {
  constexpr std::uint64_t open = ~std::uint64_t(0);
  auto a_b = plain_range({"", "bytes=100-199", ""}, open);
  REQUIRE(a_b);
  CHECK(a_b->first == 100);
  CHECK(a_b->last == 199);
  auto a_ = plain_range({"", "bytes=5000000-", ""}, open);
  REQUIRE(a_);
  CHECK(a_->first == 5000000);
  CHECK(a_->last == open - 1);
  CHECK_FALSE(plain_range({"", "", ""}, open));                  // no Range
  CHECK_FALSE(plain_range({"", "bytes=-500", ""}, open));        // needs the length
  CHECK_FALSE(plain_range({"", "bytes=0-9", "\"abc\""}, open));  // needs the validator
  CHECK_FALSE(plain_range({"", "items=0-9", ""}, open));         // another unit
  CHECK_FALSE(plain_range({"", "bytes=0-9,20-29", ""}, open));   // several ranges
  CHECK_FALSE(plain_range({"", "bytes=9-0", ""}, open));         // malformed
}

TEST_CASE("pass-through: what of a request's conditions may go upstream") {
  auto fwd = [](std::string_view range, std::string_view if_range = {}, std::string_view inm = {},
                std::string_view ims = {}) {
    return forwardable_conditions({inm, range, if_range, ims});
  };
  // One range, rebuilt from its numbers.
  CHECK(fwd("bytes=100-199").range == "bytes=100-199");
  CHECK(fwd("  bytes= 100 - 199 ").range == "bytes=100-199");
  CHECK(fwd("bytes=100-").range == "bytes=100-");
  CHECK(fwd("bytes=-500").range == "bytes=-500");
  CHECK(fwd("bytes=0-0").range == "bytes=0-0");
  // Not one range: dropped (the whole body answers it).
  CHECK(fwd("bytes=0-1,4-5").range.empty());
  CHECK(fwd("items=0-1").range.empty());
  CHECK(fwd("bytes=5-4").range.empty());
  CHECK(fwd("bytes=abc").range.empty());
  CHECK(fwd("bytes=1-2\r\nX-Evil: 1").range.empty());
  CHECK(fwd("bytes=99999999999999999999-").range.empty());
  CHECK(fwd("bytes=" + std::string(300, '1') + "-").range.empty());

  // Validators: well-formed ones pass as they are, anything else is dropped.
  const std::string date = "Wed, 01 Jan 2025 00:00:00 GMT";
  auto ok = fwd("bytes=0-9", "\"abc\"", "W/\"x\", \"y\"", date);
  CHECK(ok.if_range == "\"abc\"");
  CHECK(ok.if_none_match == "W/\"x\", \"y\"");
  CHECK(ok.if_modified_since == date);
  CHECK(fwd("bytes=0-9", date).if_range == date);
  CHECK(fwd({}, {}, "*").if_none_match == "*");
  CHECK(fwd({}, {}, "abc").if_none_match.empty());                 // unquoted
  CHECK(fwd({}, {}, "\"a\"\r\nX-Evil: 1").if_none_match.empty());  // a CR/LF: not a tag
  CHECK(fwd({}, {}, "\"a\" \"b\"").if_none_match.empty());         // no comma
  CHECK(fwd({}, {}, {}, "yesterday").if_modified_since.empty());
  CHECK(fwd({}, {}, {}, "Wed, 1 Jan 2025 00:00:00 GMT").if_modified_since.empty());
  CHECK(fwd({}, {}, {}, "Xyz, 01 Jan 2025 00:00:00 GMT").if_modified_since.empty());
  CHECK(fwd({}, {}, {}, "Wed, 01 Jan 2025 00:00:00 UTC").if_modified_since.empty());
  // If-Range means nothing without a Range it applies to.
  CHECK(fwd({}, "\"abc\"").if_range.empty());
  CHECK(fwd("bytes=0-9", "abc").if_range.empty());
  CHECK(fwd({}).empty());
  CHECK_FALSE(fwd("bytes=0-9").empty());
}

TEST_CASE("a 206's Content-Range must describe its body") {
  CHECK(content_range_matches("bytes 100-199/1000", 100));
  CHECK(content_range_matches("bytes 0-0/1", 1));
  CHECK(content_range_matches("bytes 100-199/*", 100));
  CHECK_FALSE(content_range_matches("bytes 100-199/1000", 99));
  CHECK_FALSE(content_range_matches("bytes 100-199/150", 100));  // beyond the complete length
  CHECK_FALSE(content_range_matches("bytes 199-100/1000", 100));
  CHECK_FALSE(content_range_matches("bytes */1000", 0));
  CHECK_FALSE(content_range_matches("items 0-9/10", 10));
  CHECK_FALSE(content_range_matches("bytes 0-9", 10));
}
