#include <doctest/doctest.h>

#include "cache/lru_index.hpp"

using recgate::cache::lru_index;

TEST_CASE("lru_index evicts the least recently used first, down to the limit") {
  lru_index lru;
  lru.put("a", 100, 10);
  lru.put("b", 100, 20);
  lru.put("c", 100, 30);
  CHECK(lru.total_bytes() == 300);
  lru.touch("a", 40);  // a is now the most recent
  CHECK(lru.oldest_beyond(300).empty());
  auto oldest = lru.oldest_beyond(150);
  CHECK(oldest == std::vector<std::string>{"b", "c"});
  // Candidates stay until the caller has removed them (a removal may fail).
  CHECK(lru.total_bytes() == 300);
  for (const auto& k : oldest) lru.erase(k);
  CHECK(lru.total_bytes() == 100);
  CHECK(lru.objects() == 1);
  lru.clear();
  CHECK(lru.objects() == 0);
  CHECK(lru.total_bytes() == 0);
}

TEST_CASE("lru_index: ties in time keep the order of use; dirty times are taken once") {
  lru_index lru;
  lru.put("a", 1, 5);
  lru.put("b", 1, 5);
  lru.touch("a", 5);
  auto dirty = lru.take_dirty();
  REQUIRE(dirty.size() == 1);
  CHECK(dirty[0].first == "a");
  CHECK(lru.take_dirty().empty());
  CHECK(lru.oldest_beyond(1) == std::vector<std::string>{"b"});
  lru.erase("a");
  lru.erase("b");
  CHECK(lru.total_bytes() == 0);
  lru.touch("missing", 1);  // no effect
  CHECK(lru.objects() == 0);
}
