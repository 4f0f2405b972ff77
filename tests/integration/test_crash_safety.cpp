// kill -9 in the middle of concurrent cache fills: after every restart the store opens, and every
// body the gateway serves is the upstream's, byte for byte. A committed object survives the crash
// (HIT); an interrupted fill leaves nothing visible and is fetched again (MISS).
//
// The same during eviction (a small max_bytes) and purge (the admin listener's DELETE): the store
// opens, acknowledged purges hold, and every body served is right.
//
// RECGATE_CRASH_ROUNDS sets the number of rounds of the repeated tests (default 20), for longer
// runs.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;
using namespace std::chrono_literals;

namespace {

stack_options cached() {
  stack_options o;
  o.cache = true;
  return o;
}

// One recording the test asks for.
struct recording_case {
  std::string sid;
  laml_sim::audio_format format = laml_sim::audio_format::wav;
  std::string path;

  // The exact bytes laml-sim serves for it (made again on each call: the test keeps no copies,
  // so a long run's memory stays flat).
  std::string expected() const {
    std::string out(laml_sim::body_size(sid, format, sim_duration), '\0');
    laml_sim::fill_body(sid, format, sim_duration, 0, std::span<char>(out.data(), out.size()));
    return out;
  }
  std::uint64_t size() const { return laml_sim::body_size(sid, format, sim_duration); }
};

recording_case make_case(std::uint32_t unique, std::uint64_t bytes, bool mp3) {
  recording_case c;
  c.sid = laml_sim::sized_sid(unique, bytes);
  c.format = mp3 ? laml_sim::audio_format::mp3 : laml_sim::audio_format::wav;
  c.path = recording_path(c.sid, mp3 ? "mp3" : "wav");
  return c;
}

// Sizes around and across the 256 KiB chunk: an exact multiple (empty last chunk), one byte over,
// and up to several chunks.
constexpr std::uint64_t sizes[] = {200'000, 262'144, 262'145,   300'000,   524'288,
                                   600'000, 786'433, 1'000'000, 1'500'000, 2'000'000};

// Why two bodies differ, in a line a failure report can carry.
std::string mismatch(const std::string& got, const std::string& want) {
  if (got == want) return "identical";
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "got " + std::to_string(got.size()) + " bytes, want " + std::to_string(want.size()) +
         ", first difference at " + std::to_string(i);
}

bool is_prefix(const std::string& got, const std::string& want) {
  return got.size() <= want.size() && want.compare(0, got.size(), got) == 0;
}

// Polls the simulator until every path has reached it at least once (the fills are running).
void wait_until_upstream_saw(stack& s, const std::vector<const recording_case*>& cases) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto stats = s.sim_stats();
    bool all = true;
    for (const auto* c : cases) all = all && upstream_fetches(stats, c->path) > 0;
    if (all) return;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "the fills did not reach the simulator");
    std::this_thread::sleep_for(5ms);
  }
}

// The N of "cache: removed N interrupted fills" in the running gateway's start-up output, or
// nullopt when it did not print that line (nothing to remove).
std::optional<long> interrupted_fills_removed(stack& s) {
  static const std::regex line(R"(cache: removed (\d+) interrupted fills)");
  // The log is asynchronous: the port line the fixture waited for can come before the lines
  // logged while the store opened. Those precede the log's own "listening on … threads" line,
  // so once that is there, the removal line is too if there is one.
  static const std::regex started(R"(listening on .* threads)");
  auto until = std::chrono::steady_clock::now() + 10s;
  auto logged_start = [&] {
    for (const auto& l : s.gateway_lines()) {
      if (std::regex_search(l, started)) return true;
    }
    return false;
  };
  while (!logged_start() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  for (const auto& l : s.gateway_lines()) {
    std::smatch m;
    if (std::regex_search(l, m, line)) return std::stol(m[1].str());
  }
  return std::nullopt;
}

// SIGKILL and start again. The new gateway opens the store before it prints its port: when the
// fixture cannot get that port (no store, or an unreadable "listening on" line) the test stops
// here with everything the gateway printed.
void crash_and_restart(stack& s) {
  try {
    s.crash_and_restart_gateway();
  } catch (const std::exception& e) {
    std::string output;
    for (const auto& l : s.gateway_lines()) output += l + "\n";
    FAIL("no port from the gateway after kill -9 (" << std::string(e.what()) << "); it printed:\n"
                                                    << output);
  }
}

int rounds_from_environment() {
  const char* text = std::getenv("RECGATE_CRASH_ROUNDS");
  if (!text || !*text) return 20;
  int n = std::atoi(text);
  return n > 0 ? n : 20;
}

// GET and HEAD of an object after a restart: the whole body, right, and once committed the right
// Content-Length from the manifest. Returns the GET's answer (its X-Cache tells HIT from MISS).
test_support::http_result check_served_whole(stack& s, const recording_case& c) {
  CAPTURE(c.path);
  auto got = s.get(c.path);
  REQUIRE_MESSAGE(got.ok(), got.error);
  CHECK(got.status == 200);
  auto want = c.expected();
  CHECK_MESSAGE(got.body == want, mismatch(got.body, want));
  auto head = wait_for_hit(s, c.path);
  CHECK(head.status == 200);
  CHECK(head.header("X-Cache") == std::string("HIT"));
  CHECK(head.header("Content-Length") == std::to_string(want.size()));
  return got;
}

}  // namespace

TEST_CASE("kill -9 during 20 concurrent fills, repeated: every body served afterwards is right") {
  const int rounds = rounds_from_environment();
  constexpr std::size_t fresh_per_round = 6;  // new Sids: fills the kill cuts off, or just misses
  constexpr std::size_t hits_per_round = 14;  // Sids committed in earlier rounds
  constexpr std::size_t clients = fresh_per_round + hits_per_round;

  stack s(cached());
  std::uint32_t next_unique = 7000;
  std::vector<recording_case> committed;
  // Objects committed before the first round, so every round mixes hits with new fills.
  for (std::size_t i = 0; i < hits_per_round; ++i) {
    committed.push_back(make_case(next_unique++, sizes[i % std::size(sizes)], i % 3 == 0));
    check_served_whole(s, committed.back());
  }

  int fresh_committed_before_kill = 0;  // a new Sid's fill finished before the kill: HIT after
  int fresh_refetched = 0;              // cut off mid-fill: MISS after, fetched again
  long markers_removed = 0;             // from the gateway's "removed N interrupted fills"
  int restarts_with_removal = 0;
  const auto started = std::chrono::steady_clock::now();

  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    // Each new fill is throttled to take 60..360 ms, so a kill lands before, during or after a
    // given fill depending on the round.
    constexpr int shortest_fill_ms = 60, fill_step_ms = 60;
    std::vector<recording_case> fresh;
    for (std::size_t i = 0; i < fresh_per_round; ++i) {
      auto size = sizes[(round * fresh_per_round + i) % std::size(sizes)];
      fresh.push_back(make_case(next_unique++, size, (round + i) % 3 == 0));
      auto fill_ms = shortest_fill_ms + fill_step_ms * ((round + i) % fresh_per_round);
      s.sim_fault(
          {{"sid", fresh.back().sid}, {"bytes_per_second", fresh.back().size() * 1000 / fill_ms}});
    }
    // The hits: the objects committed since the last restart (the previous round's new Sids,
    // the ones most exposed to this kill), then older ones in rotation.
    std::vector<const recording_case*> wanted;
    for (const auto& c : fresh) wanted.push_back(&c);
    const std::size_t recent = round == 0 ? 0 : fresh_per_round;
    const std::size_t older = committed.size() - recent;
    for (std::size_t i = older; i < committed.size(); ++i) wanted.push_back(&committed[i]);
    for (std::size_t i = 0; wanted.size() < clients; ++i) {
      wanted.push_back(&committed[(round * (hits_per_round - recent) + i) % older]);
    }

    std::vector<test_support::http_result> results(clients);
    std::vector<std::jthread> threads;  // joined on every way out
    for (std::size_t i = 0; i < clients; ++i) {
      // The kill ends these connections at once; the timeout is only a safety net.
      threads.emplace_back([&results, &wanted, i, port = s.gateway_port()] {
        results[i] =
            test_support::request("127.0.0.1", port, "GET", wanted[i]->path, with_key(), {}, 5s);
      });
    }
    // The fills are running once the simulator has seen their requests (hits never reach it).
    wait_until_upstream_saw(s, {wanted.begin(), wanted.begin() + fresh_per_round});
    // The one timed wait, on purpose: where the kill lands relative to the throttled fills is
    // what is varied. 20..420 ms after the fills began, in steps of 40 ms over the rounds, so
    // kills land before the first chunk, between chunks, at a commit and after fills finished.
    auto kill_after = std::chrono::milliseconds(20 + 40 * ((round * 7) % 11));
    std::this_thread::sleep_for(kill_after);
    crash_and_restart(s);
    for (auto& t : threads) t.join();

    // What clients got before the kill: possibly cut short, never wrong.
    for (std::size_t i = 0; i < clients; ++i) {
      CAPTURE(wanted[i]->path);
      const auto& r = results[i];
      auto want = wanted[i]->expected();
      CHECK_MESSAGE(is_prefix(r.body, want), mismatch(r.body, want));
      if (r.ok()) {
        CHECK(r.status == 200);
        CHECK_MESSAGE(r.body == want, mismatch(r.body, want));
      }
    }

    auto removed = interrupted_fills_removed(s);
    if (removed) {
      markers_removed += *removed;
      ++restarts_with_removal;
    }

    // Verify at full speed; the next round throttles its own new Sids.
    s.sim_clear_faults();
    int refetched_this_round = 0;
    for (const auto& c : fresh) {
      auto r = check_served_whole(s, c);
      auto label = r.header("X-Cache").value_or("none");
      CAPTURE(c.path);
      CHECK((label == "HIT" || label == "MISS"));
      auto fetches = upstream_fetches(s.sim_stats(), c.path);
      if (label == "HIT") {
        ++fresh_committed_before_kill;
        CHECK(fetches == 1);
      } else {
        ++refetched_this_round;
        CHECK(fetches == 2);
      }
    }
    fresh_refetched += refetched_this_round;
    // Every marker the restart removed belongs to a fill that did not commit.
    CHECK(removed.value_or(0) <= refetched_this_round);
    // Objects committed before the kill survive it: HIT, the same bytes.
    for (std::size_t i = fresh_per_round; i < clients; ++i) {
      auto r = check_served_whole(s, *wanted[i]);
      CAPTURE(wanted[i]->path);
      CHECK(r.header("X-Cache") == std::string("HIT"));
    }
    for (auto& c : fresh) committed.push_back(std::move(c));
  }

  // Every object ever committed, after the last kill: a HIT with the upstream's bytes.
  for (const auto& c : committed) {
    auto r = check_served_whole(s, c);
    CAPTURE(c.path);
    CHECK(r.header("X-Cache") == std::string("HIT"));
  }

  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE(rounds << " rounds in " << seconds << " s; new Sids committed before the kill (HIT "
                 << "after restart): " << fresh_committed_before_kill
                 << "; cut off and fetched again: " << fresh_refetched
                 << "; interrupted fills removed at start-up: " << markers_removed << " over "
                 << restarts_with_removal
                 << " restarts; objects checked at the end: " << committed.size());
  // Both paths were exercised: some fills were cut off by the kill, some finished before it.
  CHECK(fresh_refetched > 0);
  CHECK(markers_removed > 0);
  if (rounds >= 10) CHECK(fresh_committed_before_kill > 0);
}

TEST_CASE("kill -9 mid-fill: the restarted gateway removes the interrupted fills and says so") {
  stack s(cached());
  std::optional<long> removed;
  std::uint32_t next_unique = 8000;
  for (int round = 0; round < 3 && !removed.value_or(0); ++round) {
    CAPTURE(round);
    // 2 MB at 1 MiB/s: half a second in, about two chunks are written and the fill is far from
    // done.
    std::vector<recording_case> fills;
    for (int i = 0; i < 4; ++i) {
      fills.push_back(make_case(next_unique++, 2'000'000, i % 2 == 1));
      s.sim_fault({{"sid", fills.back().sid}, {"bytes_per_second", 1 << 20}});
    }
    std::vector<std::jthread> threads;  // joined on every way out
    std::vector<const recording_case*> running;
    for (const auto& c : fills) {
      running.push_back(&c);
      threads.emplace_back([port = s.gateway_port(), path = c.path] {
        test_support::request("127.0.0.1", port, "GET", path, with_key(), {}, 5s);
      });
    }
    wait_until_upstream_saw(s, running);
    // Timed on purpose: mid-way through the throttled fills (see above).
    std::this_thread::sleep_for(500ms);
    crash_and_restart(s);
    for (auto& t : threads) t.join();
    removed = interrupted_fills_removed(s);

    // Nothing of the interrupted fills is visible: each is fetched again, whole and right.
    s.sim_clear_faults();
    for (const auto& c : fills) {
      auto r = check_served_whole(s, c);
      CAPTURE(c.path);
      CHECK(r.header("X-Cache") == std::string("MISS"));
      CHECK(upstream_fetches(s.sim_stats(), c.path) == 2);
    }
  }
  REQUIRE(removed);
  CHECK(*removed > 0);
  CHECK(*removed <= 4);
  MESSAGE("the restart removed " << *removed << " interrupted fills");

  // The markers are gone for good: a clean restart finds nothing to remove.
  s.restart_gateway();
  CHECK_FALSE(interrupted_fills_removed(s));
}

TEST_CASE("kill -9 during eviction and purge, repeated: the store opens and every body is right") {
  // Recordings of 150..400 kB in a cache of 1.2 MB: nearly every commit evicts older objects.
  // Workers loop over their own recordings: GET (a fill, a commit, evictions), HEAD until HIT, then
  // DELETE another of theirs (a purge), while the kill lands at varying times.
  const int rounds = rounds_from_environment();
  constexpr std::uint64_t max_bytes = 1'200'000;
  constexpr std::size_t workers = 3, per_worker = 4;
  auto o = cached();
  o.extra_cache = "max_bytes = " + std::to_string(max_bytes) + "\nchunk_size = 65536\n";
  stack s(o);
  std::vector<recording_case> all;
  for (std::size_t i = 0; i < workers * per_worker; ++i) {
    all.push_back(
        make_case(static_cast<std::uint32_t>(9600 + i), 150'000 + 25'000 * i, i % 4 == 3));
  }

  long evictions_before_kills = 0, purges_before_kills = 0, fills_before_kills = 0;
  int purged_checked = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::set<std::size_t> purged;    // purge answered 200 and nothing of it started since
    std::vector<std::string> wrong;  // bodies that were not a prefix of the upstream's
    std::vector<std::jthread> threads;
    const auto port = s.gateway_port(), admin_port = s.admin_port();
    for (std::size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w, port, admin_port] {
        for (std::size_t step = round; !stop; ++step) {
          std::size_t get = w * per_worker + step % per_worker;
          std::size_t purge = w * per_worker + (step + 2) % per_worker;
          {
            std::lock_guard lock(mutex);
            purged.erase(get);
          }
          auto r =
              test_support::request("127.0.0.1", port, "GET", all[get].path, with_key(), {}, 5s);
          // Cut short by the kill (then what is in `purged` is what the crash must keep), or
          // whole: never a wrong byte.
          if (!r.ok() ? !is_prefix(r.body, all[get].expected()) : r.body != all[get].expected()) {
            std::lock_guard lock(mutex);
            wrong.push_back(all[get].path + ": " + mismatch(r.body, all[get].expected()));
          }
          if (!r.ok()) break;
          // Its fill over (committed, or already evicted) before the next purge, so that no
          // commit of it can land after a purge of it.
          for (int i = 0; i < 200 && !stop; ++i) {
            auto head =
                test_support::request("127.0.0.1", port, "HEAD", all[get].path, with_key(), {}, 5s);
            if (!head.ok()) return;
            if (head.header("X-Cache") != std::string("STREAM")) break;
            std::this_thread::sleep_for(2ms);
          }
          {
            std::lock_guard lock(mutex);
            purged.erase(purge);  // in flight: it may or may not have happened
          }
          auto target = "/cache/recordings/" + std::string(project_id) + "/" + all[purge].sid;
          auto d = test_support::request("127.0.0.1", admin_port, "DELETE", target, {}, {}, 5s);
          if (!d.ok()) break;
          if (d.status == 200) {
            std::lock_guard lock(mutex);
            purged.insert(purge);
          }
        }
      });
    }
    // Timed on purpose, as in the test above: 40..390 ms in, in steps of 35 ms over the rounds.
    std::this_thread::sleep_for(std::chrono::milliseconds(40 + 35 * ((round * 7) % 11)));
    auto stats = nlohmann::json::parse(s.admin("GET", "/cache/stats").body, nullptr, false);
    if (stats.is_object()) {
      evictions_before_kills += stats.value("evictions", 0L);
      fills_before_kills += stats.value("fills_committed", 0L);
    }
    crash_and_restart(s);
    stop = true;
    for (auto& t : threads) t.join();
    for (const auto& w : wrong) FAIL_CHECK(w);
    purges_before_kills += static_cast<long>(purged.size());

    // The store opened (the gateway is listening) without an error, within its limit, and its
    // manifests agree with the index: as many HEAD HITs as objects.
    for (const auto& l : s.gateway_lines()) {
      CAPTURE(l);
      CHECK(l.find("\"level\":\"error\"") == std::string::npos);
    }
    auto opened = nlohmann::json::parse(s.admin("GET", "/cache/stats").body);
    CHECK(opened["bytes"].get<std::uint64_t>() <= max_bytes);
    long hits = 0;
    for (std::size_t i = 0; i < all.size(); ++i) {
      auto head = s.get(all[i].path, with_key(), "HEAD");
      CHECK(head.status == 200);
      bool hit = head.header("X-Cache") == std::string("HIT");
      hits += hit;
      if (hit) CHECK(head.header("Content-Length") == std::to_string(all[i].size()));
      if (purged.contains(i)) {
        // An acknowledged purge survives the crash.
        CAPTURE(all[i].path);
        CHECK_FALSE(hit);
        ++purged_checked;
      }
    }
    CHECK(opened["objects"] == hits);
    // Every body served after the restart is the upstream's, whole.
    for (const auto& c : all) {
      CAPTURE(c.path);
      auto r = s.get(c.path);
      REQUIRE_MESSAGE(r.ok(), r.error);
      CHECK(r.status == 200);
      CHECK_MESSAGE(r.body == c.expected(), mismatch(r.body, c.expected()));
    }
  }
  auto final_stats = nlohmann::json::parse(s.admin("GET", "/cache/stats").body);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE(rounds << " rounds in " << seconds << " s; before the kills: " << fills_before_kills
                 << " commits, " << evictions_before_kills << " evictions, " << purges_before_kills
                 << " purges standing; " << purged_checked
                 << " acknowledged purges checked after restarts");
  CHECK(evictions_before_kills > 0);
  CHECK(purged_checked > 0);
  CHECK(final_stats["bytes"].get<std::uint64_t>() <= max_bytes);
}
