#include <doctest/doctest.h>

#include "cache/metadata_cache.hpp"

using recgate::cache::metadata_cache;
using namespace std::chrono_literals;

TEST_CASE("metadata_cache: fresh within the TTL, gone after it, never across accounts") {
  metadata_cache c(10s, 100);
  auto t0 = metadata_cache::clock::time_point{} + 1000s;
  c.put("acct-a", "sid-1", {"{\"a\":1}", "application/json"}, t0);
  CHECK(c.find("acct-a", "sid-1", t0 + 9s)->body == "{\"a\":1}");
  CHECK_FALSE(c.find("acct-b", "sid-1", t0));  // same Sid, other account: nothing
  CHECK_FALSE(c.find("acct-a", "sid-1", t0 + 10s));
  c.put("acct-a", "sid-1", {"{\"a\":2}", "application/json"}, t0 + 20s);
  CHECK(c.find("acct-a", "sid-1", t0 + 21s)->body == "{\"a\":2}");
  c.erase("acct-a", "sid-1");
  CHECK_FALSE(c.find("acct-a", "sid-1", t0 + 21s));
}

TEST_CASE("metadata_cache stays within its entry bound") {
  metadata_cache c(10s, 3);
  auto t0 = metadata_cache::clock::time_point{} + 1000s;
  for (int i = 0; i < 10; ++i)
    c.put("a", "s" + std::to_string(i), {"x", "application/json"}, t0 + std::chrono::seconds(i));
  CHECK(c.size() == 3);
  CHECK(c.find("a", "s9", t0 + 9s));
  CHECK_FALSE(c.find("a", "s0", t0 + 9s));
}
