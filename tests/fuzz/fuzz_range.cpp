// Fuzz target: Range and conditional requests (proxy/policy/range_plan.hpp).
// Input, one field a line: the body's length (decimal; empty or not a number: unknown), Range,
// If-Range, If-None-Match, the representation's ETag, its Last-Modified.

#include <charconv>
#include <limits>
#include <optional>
#include <string>

#include "fuzz_support.hpp"
#include "proxy/policy/range_plan.hpp"

namespace {

using namespace recgate;

std::optional<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool digits(std::string_view s) {
  return s.find_first_not_of("0123456789") == std::string_view::npos;
}

// RFC 9110 section 14.1.2 for the plain forms "bytes=F-L", "bytes=F-", "bytes=-N" (digits only,
// no spaces, values that fit in 63 bits), written out independently of parse_range.
std::optional<parsed_range> expected_range(std::string_view header, std::uint64_t length) {
  if (!header.starts_with("bytes=")) return std::nullopt;
  auto spec = header.substr(6);
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first_text = spec.substr(0, dash), last_text = spec.substr(dash + 1);
  if (!digits(first_text) || !digits(last_text) || first_text.size() > 18 ||
      last_text.size() > 18 || (first_text.empty() && last_text.empty())) {
    return std::nullopt;
  }
  if (first_text.empty()) {
    auto n = *number(last_text);
    if (n == 0 || length == 0) return parsed_range{range_kind::unsatisfiable, {}};
    auto count = n < length ? n : length;
    return parsed_range{range_kind::single, {length - count, length - 1}};
  }
  auto first = *number(first_text);
  if (!last_text.empty() && *number(last_text) < first) return parsed_range{};  // invalid: ignored
  if (first >= length) return parsed_range{range_kind::unsatisfiable, {}};
  auto last = last_text.empty() ? length - 1 : *number(last_text);
  return parsed_range{range_kind::single, {first, last < length - 1 ? last : length - 1}};
}

void check_range(std::string_view header, std::uint64_t length) {
  auto r = parse_range(header, length);
  if (r.kind == range_kind::single) {
    FUZZ_CHECK(length > 0);
    FUZZ_CHECK(r.range.first <= r.range.last && r.range.last < length);
  }
  if (auto want = expected_range(header, length)) {
    FUZZ_CHECK(r.kind == want->kind);
    if (r.kind == range_kind::single) {
      FUZZ_CHECK(r.range.first == want->range.first && r.range.last == want->range.last);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = fuzz::fields(fuzz::as_text(data, size), 6);
  representation rep;
  rep.length = number(f[0]);
  rep.etag = std::string(f[4]);
  rep.last_modified = std::string(f[5]);
  conditional_headers request{f[3], f[1], f[2]};

  for (std::uint64_t length : {rep.length.value_or(1000), std::uint64_t{0}, std::uint64_t{1},
                               std::numeric_limits<std::uint64_t>::max()}) {
    check_range(f[1], length);
  }

  auto plan = plan_response(rep, request);
  switch (plan.status) {
    case 200:
      FUZZ_CHECK(plan.begin == 0 && !plan.end && plan.content_range.empty());
      break;
    case 304:
      FUZZ_CHECK(!request.if_none_match.empty() && !rep.etag.empty());
      FUZZ_CHECK(etag_matches_any(request.if_none_match, rep.etag));
      break;
    case 206: {
      FUZZ_CHECK(rep.length && !request.range.empty());
      FUZZ_CHECK(plan.end && plan.begin < *plan.end && *plan.end <= *rep.length);
      auto want = "bytes " + std::to_string(plan.begin) + "-" + std::to_string(*plan.end - 1) +
                  "/" + std::to_string(*rep.length);
      FUZZ_CHECK(plan.content_range == want);
      break;
    }
    case 416:
      FUZZ_CHECK(rep.length && plan.content_range == "bytes */" + std::to_string(*rep.length));
      break;
    default:
      FUZZ_CHECK(false && "unexpected status");
  }
  // A stale If-Range (a validator we do not have) never yields a partial answer.
  if (plan.status == 206 && !request.if_range.empty()) {
    FUZZ_CHECK(!rep.etag.empty() || !rep.last_modified.empty());
  }
  // An If-None-Match naming our own tag always matches.
  if (!rep.etag.empty())
    FUZZ_CHECK(etag_matches_any(rep.etag, rep.etag) || rep.etag.find(',') != std::string::npos);
  return 0;
}
