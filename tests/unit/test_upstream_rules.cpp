// The upstream client's pure rules: which redirects are followed and where to, the backoff
// before a retry, and the pace an upstream body must keep.
#include <chrono>

#include <doctest/doctest.h>

#include "proxy/upstream/body_pace.hpp"
#include "proxy/upstream/redirects.hpp"
#include "proxy/upstream/retry_backoff.hpp"

using namespace recgate;
using namespace std::chrono_literals;

TEST_CASE("redirect statuses: 301, 302, 303, 307, 308 only") {
  for (unsigned s : {301u, 302u, 303u, 307u, 308u}) CHECK(is_redirect(s));
  for (unsigned s : {200u, 206u, 300u, 304u, 305u, 306u, 400u, 500u}) CHECK_FALSE(is_redirect(s));
}

TEST_CASE("a Location resolves against the origin that answered") {
  config::base_url from{"https", "space.signalwire.com", 443};
  SUBCASE("a path stays on the same origin, query kept") {
    auto r = resolve_location("/storage/abc.wav?sig=x&exp=1", from);
    REQUIRE(r);
    CHECK(r->origin == from);
    CHECK(r->target == "/storage/abc.wav?sig=x&exp=1");
  }
  SUBCASE("an absolute URL names its own origin") {
    auto r = resolve_location("https://files.example.net:8443/a/b.mp3?t=1", from);
    REQUIRE(r);
    CHECK(r->origin.scheme == "https");
    CHECK(r->origin.host == "files.example.net");
    CHECK(r->origin.port == 8443);
    CHECK(r->target == "/a/b.mp3?t=1");
  }
  SUBCASE("an origin with no path is its root, on the scheme's port") {
    auto r = resolve_location("http://files.example.net", from);
    REQUIRE(r);
    CHECK(r->origin.port == 80);
    CHECK(r->target == "/");
  }
  SUBCASE("what cannot be resolved safely is refused") {
    CHECK_FALSE(resolve_location("//evil.example/x", from));           // scheme-relative
    CHECK_FALSE(resolve_location("storage/abc.wav", from));            // relative path
    CHECK_FALSE(resolve_location("", from));                           // empty
    CHECK_FALSE(resolve_location("ftp://files.example.net/a", from));  // not http(s)
    CHECK_FALSE(resolve_location("https://:99999/a", from));           // malformed
    // It becomes a request line: a space or control character would end it early.
    CHECK_FALSE(resolve_location("/a b.wav", from));
    CHECK_FALSE(resolve_location("/a\tb.wav", from));
    CHECK_FALSE(resolve_location("https://files.example.net/a\x7f", from));
  }
}

TEST_CASE("retry backoff: doubling from the base up to the cap, jittered in the upper half") {
  const config::duration base{100}, cap{2000};
  CHECK(backoff_ceiling(base, cap, 0) == 100ms);
  CHECK(backoff_ceiling(base, cap, 1) == 200ms);
  CHECK(backoff_ceiling(base, cap, 4) == 1600ms);
  CHECK(backoff_ceiling(base, cap, 5) == 2000ms);            // 3200 capped
  CHECK(backoff_ceiling(base, cap, 4000000000u) == 2000ms);  // no overflow
  CHECK(backoff_ceiling(config::duration{0}, cap, 3) == 0ms);
  // The pause: within [ceiling/2, ceiling], both ends reachable.
  CHECK(backoff_pause(base, cap, 1, 0) == 100ms);
  CHECK(backoff_pause(base, cap, 1, 100) == 200ms);
  for (std::uint64_t r : {1ull, 77ull, 12345ull, ~0ull}) {
    auto p = backoff_pause(base, cap, 3, r);
    CHECK(p >= 400ms);
    CHECK(p <= 800ms);
  }
}

TEST_CASE("body pace: a minimum average rate per window of waiting, and a deadline") {
  SUBCASE("keeping the rate, window after window") {
    body_pace pace(4096, 15s, 10min);
    for (int i = 0; i < 100; ++i) CHECK(pace.observe(1s, 4096).empty());
  }
  SUBCASE("a trickle is judged once a window of waiting has passed, not before") {
    body_pace pace(4096, 15s, 10min);
    for (int i = 0; i < 3; ++i) CHECK(pace.observe(4s, 1).empty());  // 12 s: not a window yet
    auto why = pace.observe(4s, 1);
    CHECK(why.find("below min_body_rate 4096") != std::string::npos);
  }
  SUBCASE("a burst early in a window makes up for a slow end") {
    body_pace pace(1000, 10s, 10min);
    CHECK(pace.observe(1s, 20000).empty());
    CHECK(pace.observe(9s, 0).empty());  // 20000 bytes in 10 s: 2000/s
  }
  SUBCASE("min_rate 0: no minimum, but the deadline holds") {
    body_pace pace(0, 1s, 30s);
    CHECK(pace.observe(20s, 0).empty());
    CHECK(pace.left() == std::chrono::steady_clock::duration(10s));
    CHECK(pace.observe(10s, 0).find("body_timeout (30000 ms)") != std::string::npos);
    CHECK(pace.left() <= std::chrono::steady_clock::duration::zero());
  }
}
