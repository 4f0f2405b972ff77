// Fuzz target: path routing (proxy/policy/router.hpp) and UUID parsing (util/uuid.hpp).
// Input: "METHOD TARGET" (the request line without the version); without a space the whole
// input is the target of a GET. The whole input is also given to normalize_uuid.

#include <string>
#include <variant>

#include "fuzz_support.hpp"
#include "proxy/policy/router.hpp"
#include "util/uuid.hpp"

namespace {

using namespace recgate;

bool lower_hex_or_dash(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

void check_uuid(std::string_view text) {
  auto u = normalize_uuid(text);
  if (!u) return;
  FUZZ_CHECK(u->size() == 36 && text.size() == 36);
  for (std::size_t i = 0; i < u->size(); ++i) {
    FUZZ_CHECK(lower_hex_or_dash((*u)[i]));
    FUZZ_CHECK(((*u)[i] == '-') == (i == 8 || i == 13 || i == 18 || i == 23));
    FUZZ_CHECK((*u)[i] == lower(text[i]));
  }
  FUZZ_CHECK(normalize_uuid(*u) == u);  // idempotent
}

bool same(const route_result& a, const route_result& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.error().status == b.error().status;
  const auto& ra = *a;
  const auto& rb = *b;
  return ra.account_sid == rb.account_sid && ra.sid == rb.sid && ra.format == rb.format &&
         ra.head == rb.head && ra.remove == rb.remove;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);
  check_uuid(text);

  auto space = text.find(' ');
  std::string_view method = space == std::string_view::npos ? "GET" : text.substr(0, space);
  std::string_view target = space == std::string_view::npos ? text : text.substr(space + 1);
  auto result = route(method, target);
  std::string_view path = target.substr(0, target.find('?'));
  const bool peaks = path.starts_with("/v1/recordings");

  // The query string never changes the answer, but for the peaks' samples_per_pixel.
  if (!peaks || target.find("samples_per_pixel=") == std::string_view::npos) {
    FUZZ_CHECK(same(result, route(method, path)));
  }

  if (!result.ok()) {
    const auto& error = result.error();
    FUZZ_CHECK(error.status == 400 || error.status == 404 || error.status == 405);
    FUZZ_CHECK(!error.message.empty());
    if (error.status == 405) {
      FUZZ_CHECK(method != "GET" && method != "HEAD" && (method != "DELETE" || peaks));
    }
    return 0;
  }
  if (peaks) {
    // Waveform peaks: GET or HEAD on /v1/recordings/{uuid}/{uuid}/peaks.json, a power of two
    // from 64 to 65536 samples per pixel, never a DELETE and never anything upstream.
    const auto& peaks_request = *result;
    FUZZ_CHECK(method == "GET" || method == "HEAD");
    FUZZ_CHECK(peaks_request.format == recording_format::peaks && !peaks_request.remove);
    const auto n = peaks_request.samples_per_pixel;
    FUZZ_CHECK(n >= 64 && n <= 65536 && (n & (n - 1)) == 0);
    FUZZ_CHECK(normalize_uuid(peaks_request.account_sid) == peaks_request.account_sid);
    FUZZ_CHECK(normalize_uuid(peaks_request.sid) == peaks_request.sid);
    FUZZ_CHECK(path.size() == std::string_view("/v1/recordings///peaks.json").size() + 72);
    FUZZ_CHECK(path.ends_with("/peaks.json"));
    return 0;
  }
  const auto& request = *result;
  FUZZ_CHECK(method == "GET" || method == "HEAD" || method == "DELETE");
  FUZZ_CHECK(request.head == (method == "HEAD"));
  FUZZ_CHECK(request.remove == (method == "DELETE"));
  FUZZ_CHECK(!request.upstream_range);
  check_uuid(request.account_sid);
  FUZZ_CHECK(normalize_uuid(request.account_sid) == request.account_sid);
  FUZZ_CHECK(normalize_uuid(request.sid) == request.sid);
  // Only the accepted spellings reach a recording: no '%', no dot segment, no doubled slash.
  for (char c : path) FUZZ_CHECK(c != '%' && c != '\\' && static_cast<unsigned char>(c) > 0x20);
  FUZZ_CHECK(path.find("//") == std::string_view::npos);
  FUZZ_CHECK(path.find("/./") == std::string_view::npos &&
             path.find("/../") == std::string_view::npos);
  FUZZ_CHECK(!path.ends_with('/'));
  FUZZ_CHECK(path.starts_with("/api/laml/2010-04-01/Accounts/") ||
             path.starts_with("/2010-04-01/Accounts/"));
  // The upstream target, rebuilt from the parts, routes to the same request.
  auto upstream = upstream_target(request);
  FUZZ_CHECK(upstream.starts_with("/api/laml/2010-04-01/Accounts/"));
  FUZZ_CHECK(same(result, route(method, upstream)));
  FUZZ_CHECK(!content_type(request.format).empty());
  return 0;
}
