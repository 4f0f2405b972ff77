// Readers of committed objects on a real store in a fresh temporary folder: views of stored
// chunks one at a time, and several at once for one gather write (next_views).
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "cache/readers.hpp"
#include "cache/store.hpp"
#include "tests/support/temp_dir.hpp"
#include "util/net/async.hpp"

using namespace recgate;
using namespace recgate::cache;
using test_support::temp_dir;

namespace {

const object_key key{"720796a0-8ee9-4350-83bd-2d07a3121f1e", "19e436af-5688-4307-b03b-bdb2b42b8142",
                     "wav"};

// A committed object of six 4-byte chunks and a 2-byte tail: "aaaabbbbccccddddeeeeffffgg".
manifest commit_object(store& st) {
  manifest m;
  m.length = 26;
  m.content_type = "audio/x-wav";
  m.sha256_hex = std::string(64, 'a');
  m.created_unix = 1700000000;
  m.generation = 1;
  m.chunk_size = 4;
  REQUIRE(st.begin_fill(key, m.generation).ok());
  for (std::uint32_t i = 0; i < 6; ++i) {
    REQUIRE(st.put_chunk(key, m.generation, i, std::string(4, static_cast<char>('a' + i))).ok());
  }
  REQUIRE(st.commit(key, m, "gg").ok());
  return m;
}

// Each next_views call's views, as strings, until the end of the body (or an error).
struct gathered {
  std::vector<std::vector<std::string>> calls;
  std::vector<bool> copied;  // per call: its first view is in the scratch buffer (a copy)
  boost::system::error_code ec;
};

gathered gather_all(body_source& source, std::size_t max, std::size_t slots,
                    bool copies_after_first = false) {
  gathered out;
  net::io_context io;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        body_scratch scratch(64);
        std::vector<net::const_buffer> views(slots);
        for (;;) {
          auto count = co_await source.next_views(scratch, max, views, out.ec);
          if (out.ec || count == 0) co_return;
          out.copied.push_back(views[0].data() == scratch.get().data());
          auto& call = out.calls.emplace_back();
          for (std::size_t i = 0; i < count; ++i) {
            call.emplace_back(static_cast<const char*>(views[i].data()), views[i].size());
          }
          if (copies_after_first && out.calls.size() == 1) source.prefer_copies();
        }
      },
      net::detached);
  io.run();
  return out;
}

std::unique_ptr<store> open_store(const temp_dir& dir) {
  store_options options;
  options.path = dir.path.string();
  options.block_cache_bytes = 8 << 20;
  auto st = store::open(options);
  REQUIRE_MESSAGE(st.ok(), st.error());
  return std::move(*st);
}

using calls_t = std::vector<std::vector<std::string>>;

}  // namespace

TEST_CASE("a committed object's chunks come several at once, up to four and `max` bytes") {
  temp_dir dir("recgate-readers-");
  auto st = open_store(dir);
  auto m = commit_object(*st);

  auto all = read_committed(*st, key, m, 0, m.length);
  CHECK(all->immediate());
  auto four = gather_all(*all, 1 << 20, 4);
  CHECK_FALSE(four.ec);
  CHECK(four.calls == calls_t{{"aaaa", "bbbb", "cccc", "dddd"}, {"eeee", "ffff", "gg"}});

  // At most `max` bytes in all: the last view is cut, and the next call goes on from there.
  auto capped = read_committed(*st, key, m, 0, m.length);
  CHECK(gather_all(*capped, 10, 4).calls ==
        calls_t{{"aaaa", "bbbb", "cc"}, {"cc", "dddd", "eeee"}, {"ffff", "gg"}});

  // As many views as the caller has room for.
  auto two = read_committed(*st, key, m, 0, m.length);
  CHECK(gather_all(*two, 1 << 20, 2).calls ==
        calls_t{{"aaaa", "bbbb"}, {"cccc", "dddd"}, {"eeee", "ffff"}, {"gg"}});
}

TEST_CASE("a range starting inside a chunk gathers whole chunks after it, and ends where asked") {
  temp_dir dir("recgate-readers-");
  auto st = open_store(dir);
  auto m = commit_object(*st);
  auto range = read_committed(*st, key, m, 6, 19);  // "bbccccddddeee"
  CHECK(gather_all(*range, 1 << 20, 4).calls == calls_t{{"bb", "cccc", "dddd", "eee"}});
}

TEST_CASE("once a client is slow (prefer_copies), a reader copies one view at a time") {
  temp_dir dir("recgate-readers-");
  auto st = open_store(dir);
  auto m = commit_object(*st);
  auto source = read_committed(*st, key, m, 0, m.length);
  auto got = gather_all(*source, 1 << 20, 4, /*copies_after_first=*/true);
  CHECK_FALSE(got.ec);
  CHECK(got.calls == calls_t{{"aaaa", "bbbb", "cccc", "dddd"}, {"eeee"}, {"ffff"}, {"gg"}});
  // Views of stored chunks first, copies in the scratch buffer once slow.
  CHECK(got.copied == std::vector<bool>{false, true, true, true});
}

TEST_CASE("a chunk missing after the first ends the gather; the next call reports the damage") {
  temp_dir dir("recgate-readers-");
  auto st = open_store(dir);
  auto m = commit_object(*st);
  auto source = read_committed(*st, key, m, 0, m.length);
  net::io_context io;
  calls_t calls;
  boost::system::error_code first_ec, second_ec, third_ec;
  std::size_t third = 99;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        body_scratch scratch(64);
        std::vector<net::const_buffer> views(4);
        auto take = [&](std::size_t count) {
          auto& call = calls.emplace_back();
          for (std::size_t i = 0; i < count; ++i) {
            call.emplace_back(static_cast<const char*>(views[i].data()), views[i].size());
          }
        };
        // Two bytes: the reader now holds chunk 0 (its cursor's).
        take(co_await source->next_views(scratch, 2, views, first_ec));
        // The object goes, and its chunks with it (as if no response were reading them): the
        // held chunk still serves the rest of itself, and the gather stops at chunk 1, gone.
        REQUIRE(st->remove(key).ok());
        CHECK(st->remove_stale_fills([](const object_key&, std::uint64_t) { return false; }) == 1);
        take(co_await source->next_views(scratch, 1 << 20, views, second_ec));
        third = co_await source->next_views(scratch, 1 << 20, views, third_ec);
      },
      net::detached);
  io.run();
  CHECK_FALSE(first_ec);
  CHECK_FALSE(second_ec);
  CHECK(calls == calls_t{{"aa"}, {"aa"}});
  CHECK(third == 0);
  CHECK(third_ec);
}
