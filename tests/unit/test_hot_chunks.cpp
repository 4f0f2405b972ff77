#include <memory>
#include <string>

#include <doctest/doctest.h>

#include "cache/hot_chunks.hpp"

using recgate::cache::hot_chunks;

namespace {

// A chunk whose bytes live in their own string, as a read's do; the count of owners says whether
// the memo still holds it.
hot_chunks::held make_chunk(std::size_t size, char fill) {
  auto owner = std::make_shared<std::string>(size, fill);
  return {owner, std::string_view(*owner)};
}

}  // namespace

TEST_CASE("hot_chunks holds chunks up to its bound, the least recently used out first") {
  hot_chunks hot(300);
  hot.insert("a", make_chunk(100, 'a'));
  hot.insert("b", make_chunk(100, 'b'));
  hot.insert("c", make_chunk(100, 'c'));
  CHECK(hot.bytes() == 300);
  REQUIRE(hot.find("a"));  // a is now the most recently used
  hot.insert("d", make_chunk(100, 'd'));
  CHECK(hot.bytes() == 300);
  CHECK(hot.count() == 3);
  CHECK_FALSE(hot.find("b"));
  auto a = hot.find("a");
  REQUIRE(a);
  CHECK(a->bytes == std::string(100, 'a'));
  CHECK(hot.find("c"));
  CHECK(hot.find("d"));

  // A chunk larger than the whole bound is not held, and pushes nothing out.
  hot.insert("huge", make_chunk(301, 'h'));
  CHECK_FALSE(hot.find("huge"));
  CHECK(hot.count() == 3);

  // One large chunk pushes out as many as it needs.
  hot.insert("e", make_chunk(250, 'e'));
  CHECK(hot.bytes() <= 300);
  CHECK(hot.find("e"));
  CHECK(hot.count() == 1);
}

TEST_CASE("hot_chunks: a chunk held again replaces the old one; owners are let go with entries") {
  hot_chunks hot(1000);
  auto first = make_chunk(10, '1');
  std::weak_ptr<const void> first_owner = first.owner;
  hot.insert("k", std::move(first));
  hot.insert("k", make_chunk(20, '2'));
  CHECK(hot.count() == 1);
  CHECK(hot.bytes() == 20);
  CHECK(first_owner.expired());
  CHECK(hot.find("k")->bytes == std::string(20, '2'));

  std::weak_ptr<const void> second_owner = hot.find("k")->owner;
  hot.clear();
  CHECK(second_owner.expired());
  CHECK(hot.bytes() == 0);
  CHECK(hot.count() == 0);
}

TEST_CASE("hot_chunks forgets every chunk under a prefix and nothing else") {
  hot_chunks hot(1000);
  using namespace std::string_literals;
  hot.insert("obj1\0g1i0"s, make_chunk(10, 'x'));
  hot.insert("obj1\0g2i0"s, make_chunk(10, 'x'));
  hot.insert("obj10\0g1i0"s, make_chunk(10, 'y'));  // another object whose name extends obj1's
  hot.insert("obj2\0g1i0"s, make_chunk(10, 'z'));
  hot.forget("obj1\0"s);
  CHECK_FALSE(hot.find("obj1\0g1i0"s));
  CHECK_FALSE(hot.find("obj1\0g2i0"s));
  CHECK(hot.find("obj10\0g1i0"s));
  CHECK(hot.find("obj2\0g1i0"s));
  CHECK(hot.bytes() == 20);
}

TEST_CASE("hot_chunks with a bound of 0 holds nothing") {
  hot_chunks hot(0);
  hot.insert("a", make_chunk(1, 'a'));
  CHECK(hot.count() == 0);
  CHECK_FALSE(hot.find("a"));
}
