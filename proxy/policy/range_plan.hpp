#pragma once
// Range and conditional requests (RFC 9110, sections 13 and 14) for audio: given what we know of
// the representation and the request's headers, which status and which bytes to send. Pure.
//
// Choices: a single range gets 206; several ranges, a malformed Range or another unit get the
// whole body (200, allowed by RFC 9110 14.2); an unsatisfiable range gets 416. If-Range with an
// entity tag uses strong comparison; with a date, exact equality with Last-Modified.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/policy/recording_request.hpp"

namespace recgate {

struct byte_range {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};

enum class range_kind { none, single, unsatisfiable };

struct parsed_range {
  range_kind kind = range_kind::none;
  byte_range range;
};

// "bytes=a-b", "bytes=a-", "bytes=-n" against a body of `length` bytes.
parsed_range parse_range(std::string_view header, std::uint64_t length);

struct representation {
  std::optional<std::uint64_t> length;  // unknown while an unsized body is still arriving
  std::string etag;                     // empty when there is no validator yet
  std::string last_modified;
};

struct conditional_headers {
  std::string_view if_none_match;
  std::string_view range;
  std::string_view if_range;
  std::string_view if_modified_since = {};  // forwarded in pass-through only
};

struct response_plan {
  unsigned status = 200;             // 200, 206, 304 or 416
  std::uint64_t begin = 0;           // first byte to send
  std::optional<std::uint64_t> end;  // one past the last; nullopt: to the end of the body
  std::string content_range;         // for 206 and 416
};

response_plan plan_response(const representation& rep, const conditional_headers& request);

// A plain "bytes=a-b" or "bytes=a-" Range whose answer depends neither on validators nor on the
// length (no If-Range, no suffix range), so it can be asked of the upstream before the length is
// known; "a-" comes back with last = open_end - 1. nullopt for anything else.
std::optional<byte_range> plain_range(const conditional_headers& request, std::uint64_t open_end);

// What of a request's conditions may go upstream when nothing is cached (pass-through): one
// byte range (a Range the upstream cannot be given as one, such as several ranges, is dropped:
// the whole body is a valid answer to it, RFC 9110 14.2), rebuilt from its numbers; and
// If-None-Match ("*" or entity tags), If-Range (an entity tag or an HTTP-date) and
// If-Modified-Since (an HTTP-date) when well-formed and at most 256 bytes, else dropped as RFC
// 9110 13.1 has a recipient ignore them. HTTP-dates in the IMF-fixdate form only
// ("Sun, 06 Nov 1994 08:49:37 GMT"). If-Range only with a Range.
forwarded_conditions forwardable_conditions(const conditional_headers& request);

// True for "bytes a-b/n" (or "bytes a-b/*") with a <= b < n and b - a + 1 == body_length: a
// 206's Content-Range that describes the body it comes with.
bool content_range_matches(std::string_view content_range, std::uint64_t body_length);

// The complete length in a 206's "bytes a-b/length"; nullopt for "*" or anything malformed.
std::optional<std::uint64_t> content_range_length(std::string_view content_range);

// True when an If-None-Match value matches etag ("*", or any listed tag, weak comparison).
bool etag_matches_any(std::string_view if_none_match, std::string_view etag);

}  // namespace recgate
