#include <memory>
#include <vector>

#include <doctest/doctest.h>

#include "cache/body_source.hpp"

using recgate::body_scratch;

TEST_CASE("body_scratch: a finished buffer is the next one of its size on the same thread") {
  const void* first = nullptr;
  {
    body_scratch a(4096);
    first = a.get().data();
    CHECK(a.get().size() == 4096);
    CHECK(a.get().data() == first);  // allocated once
  }
  {
    body_scratch b(4096);
    CHECK(b.get().data() == first);  // the spare, not a new block
    body_scratch c(4096);            // while b holds it: another one
    CHECK(c.get().data() != first);
  }
  body_scratch other_size(8192);
  CHECK(other_size.get().size() == 8192);
  CHECK(other_size.get().data() != first);
}

TEST_CASE("body_scratch: lent buffers are the caller's, and spares are bounded") {
  char lent[16];
  {
    body_scratch s(boost::asio::mutable_buffer(lent, sizeof lent));
    CHECK(s.get().data() == lent);
  }
  {
    body_scratch s(64);
    CHECK(s.get().data() != lent);  // a lent buffer never becomes a spare
  }
  // More at once than a thread keeps: all work; the bound is on what is kept, not on use.
  std::vector<std::unique_ptr<body_scratch>> many;
  for (std::size_t i = 0; i < 2 * body_scratch::spares_per_thread; ++i) {
    many.push_back(std::make_unique<body_scratch>(512));
    CHECK(many.back()->get().size() == 512);
  }
  many.clear();
  // Larger than max_spare_bytes: used and freed, never kept.
  body_scratch big(body_scratch::max_spare_bytes + 1);
  CHECK(big.get().size() == body_scratch::max_spare_bytes + 1);
}
