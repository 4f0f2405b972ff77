// The revalidator (cache.revalidate_after) on a real cache in a temporary folder, with a probe
// that answers as each case scripts and a clock the test moves: when a hit is due, one check per
// recording however many hits find it due, what each answer does, and its bounds.
#include <memory>
#include <optional>
#include <stdexcept>

#include <doctest/doctest.h>

#include "cache/cache.hpp"
#include "proxy/lifecycle/revalidator.hpp"
#include "tests/support/temp_dir.hpp"

using namespace recgate;
using test_support::temp_dir;

namespace {

constexpr std::int64_t hour_ms = 3600 * 1000;

struct fixture {
  temp_dir dir{"recgate-revalidator-"};
  net::io_context io;
  std::unique_ptr<cache::cache> recordings;
  std::int64_t now = 1'700'000'000'000;  // the revalidator's clock, in ms
  int probes = 0;
  existence answer = existence::present;
  bool throw_in_probe = false;
  std::shared_ptr<net::steady_timer> gate;  // when set, a probe waits for it to be cancelled
  std::unique_ptr<revalidator> checks;

  const cache::object_key key{"720796a0-8ee9-4350-83bd-2d07a3121f1e",
                              "19e436af-5688-4307-b03b-bdb2b42b8142", "wav"};

  fixture() : fixture(with_after(hour_ms, false)) {}
  explicit fixture(revalidation_options options) {
    cache::cache_options o;
    o.storage.path = (dir.path / "db").string();
    o.storage.block_cache_bytes = 8 << 20;
    auto opened = cache::cache::open(o, io.get_executor());
    REQUIRE_MESSAGE(opened.ok(), opened.error());
    recordings = std::move(*opened);
    options.now_ms = [this] { return now; };
    checks = std::make_unique<revalidator>(
        options, *recordings,
        [this](const cache::object_key&, const std::string&) -> net::awaitable<existence> {
          ++probes;
          if (throw_in_probe) throw std::runtime_error("the probe failed");
          if (gate) {
            boost::system::error_code ec;
            co_await gate->async_wait(net::redirect_error(net::use_awaitable, ec));
          }
          co_return answer;
        },
        io.get_executor());
  }

  static revalidation_options with_after(std::int64_t ms, bool before_serving = false) {
    revalidation_options o;
    o.after = std::chrono::milliseconds(ms);
    o.before_serving = before_serving;
    return o;
  }

  // A manifest whose fill completed `age_ms` ago.
  cache::manifest filled(std::int64_t age_ms) const {
    cache::manifest m;
    m.length = 100;
    m.created_unix = (now - age_ms) / 1000;
    return m;
  }

  // Starts revalidate() for `key`; the result lands in `out` once the io context ran it.
  void start(std::optional<bool>& out) {
    net::co_spawn(
        io, [this, &out]() -> net::awaitable<void> { out = co_await checks->revalidate(key, "t"); },
        net::detached);
  }

  bool revalidate_now() {
    std::optional<bool> out;
    start(out);
    io.restart();
    io.run();
    REQUIRE(out.has_value());
    return *out;
  }

  void open_gate() {
    gate = std::make_shared<net::steady_timer>(io);
    gate->expires_at(net::steady_timer::time_point::max());
  }
};

}  // namespace

TEST_CASE("revalidator: due only once the last confirmation is older than revalidate_after") {
  fixture f;
  CHECK_FALSE(f.checks->due(f.key, f.filled(hour_ms - 1000)));  // the fill confirmed it
  CHECK(f.checks->due(f.key, f.filled(hour_ms + 1000)));

  // Present: confirmed now, so not due again for another hour, then due again.
  CHECK(f.revalidate_now());
  CHECK(f.probes == 1);
  CHECK(f.checks->counters().confirmed == 1);
  CHECK_FALSE(f.checks->due(f.key, f.filled(5 * hour_ms)));
  f.now += hour_ms - 1000;
  CHECK_FALSE(f.checks->due(f.key, f.filled(5 * hour_ms)));
  f.now += 2000;
  CHECK(f.checks->due(f.key, f.filled(5 * hour_ms)));
  CHECK_FALSE(f.recordings->deleted(f.key.account_sid, f.key.sid));
}

TEST_CASE("revalidator: off when revalidate_after is 0") {
  fixture f(fixture::with_after(0));
  CHECK_FALSE(f.checks->due(f.key, f.filled(100 * hour_ms)));
}

TEST_CASE("revalidator: gone upstream purges the recording and keeps a tombstone") {
  fixture f;
  f.answer = existence::gone;
  CHECK(f.revalidate_now());  // background: this hit is served all the same
  CHECK(f.probes == 1);
  CHECK(f.checks->counters().gone == 1);
  CHECK(f.recordings->deleted(f.key.account_sid, f.key.sid));
  CHECK(f.recordings->stats().tombstones == 1);
}

TEST_CASE("revalidator: no answer is retried after retry_after_error, not on every hit") {
  fixture f;
  f.answer = existence::unknown;
  CHECK(f.revalidate_now());
  CHECK(f.checks->counters().failed == 1);
  CHECK_FALSE(f.checks->due(f.key, f.filled(2 * hour_ms)));
  f.now += 10'000;
  CHECK(f.checks->due(f.key, f.filled(2 * hour_ms)));
  CHECK_FALSE(f.recordings->deleted(f.key.account_sid, f.key.sid));
}

TEST_CASE("revalidator: background: hits while a check runs start no second one") {
  fixture f;
  f.open_gate();
  std::optional<bool> first, second;
  f.start(first);
  f.io.poll();
  CHECK(first == true);  // served at once, the check runs beside it
  CHECK(f.checks->running() == 1);
  CHECK_FALSE(f.checks->due(f.key, f.filled(2 * hour_ms)));  // one runs: not due meanwhile
  f.start(second);
  f.io.poll();
  CHECK(second == true);
  CHECK(f.probes == 1);
  f.gate->cancel();
  f.io.restart();
  f.io.run();
  CHECK(f.checks->running() == 0);
  CHECK(f.checks->counters().confirmed == 1);
}

TEST_CASE("revalidator: before serving: every hit waits for the one check, and hears gone") {
  fixture f(fixture::with_after(hour_ms, true));
  f.answer = existence::gone;
  f.open_gate();
  std::optional<bool> first, second;
  f.start(first);
  f.io.poll();
  CHECK_FALSE(first.has_value());                      // waits for the answer
  CHECK(f.checks->due(f.key, f.filled(2 * hour_ms)));  // due: a hit now joins the check
  f.start(second);
  f.io.poll();
  CHECK_FALSE(second.has_value());
  CHECK(f.probes == 1);
  f.gate->cancel();
  f.io.restart();
  f.io.run();
  CHECK(first == false);
  CHECK(second == false);
  CHECK(f.checks->counters().gone == 1);
  CHECK(f.recordings->deleted(f.key.account_sid, f.key.sid));
}

TEST_CASE("revalidator: at most max_running background checks; the rest stay due") {
  auto options = fixture::with_after(hour_ms);
  options.max_running = 1;
  fixture f(options);
  f.open_gate();
  std::optional<bool> first, other;
  f.start(first);
  f.io.poll();
  // Another recording, due too: no second check while one runs, and it is counted.
  const cache::object_key other_key{f.key.account_sid, "29e436af-5688-4307-b03b-bdb2b42b8142",
                                    "wav"};
  net::co_spawn(
      f.io,
      [&]() -> net::awaitable<void> { other = co_await f.checks->revalidate(other_key, "t"); },
      net::detached);
  f.io.poll();
  CHECK(other == true);
  CHECK(f.probes == 1);
  CHECK(f.checks->counters().skipped == 1);
  CHECK(f.checks->due(other_key, f.filled(2 * hour_ms)));
  f.gate->cancel();
  f.io.restart();
  f.io.run();
}

TEST_CASE("revalidator: at most max_tracked confirmations are remembered") {
  auto options = fixture::with_after(hour_ms);
  options.max_tracked = 1;
  fixture f(options);
  CHECK(f.revalidate_now());
  CHECK(f.checks->tracked() == 1);
  cache::object_key other_key = f.key;
  other_key.sid = "29e436af-5688-4307-b03b-bdb2b42b8142";
  std::optional<bool> out;
  net::co_spawn(
      f.io, [&]() -> net::awaitable<void> { out = co_await f.checks->revalidate(other_key, "t"); },
      net::detached);
  f.io.restart();
  f.io.run();
  CHECK(f.checks->tracked() == 1);                         // full: the second is not remembered...
  CHECK(f.checks->due(other_key, f.filled(2 * hour_ms)));  // ...so it is checked again
  CHECK_FALSE(f.checks->due(f.key, f.filled(2 * hour_ms)));
  // Once the first one's confirmation has aged out, it makes room.
  f.now += hour_ms + 2000;
  CHECK(f.revalidate_now());
  CHECK(f.checks->tracked() == 1);
  CHECK_FALSE(f.checks->due(f.key, f.filled(2 * hour_ms)));
}

TEST_CASE("revalidator: a probe that throws ends its check all the same; waiters are served") {
  fixture f(fixture::with_after(hour_ms, true));
  f.throw_in_probe = true;
  CHECK(f.revalidate_now());  // before serving, and no answer: served as cached
  CHECK(f.checks->running() == 0);
  CHECK(f.checks->counters().failed == 1);
  CHECK_FALSE(f.checks->due(f.key, f.filled(2 * hour_ms)));  // retried later, not at once
}

TEST_CASE("revalidator: a derived object (peaks) just computed is not a confirmation") {
  fixture f;
  cache::object_key peaks = f.key;
  peaks.format = "peaks-256";
  CHECK(f.checks->due(peaks, f.filled(0)));  // computed now, from a WAV cached long before
  CHECK_FALSE(f.checks->due(f.key, f.filled(0)));
  CHECK(f.revalidate_now());
  CHECK_FALSE(f.checks->due(peaks, f.filled(0)));  // the recording was confirmed
}
