// The soak (issue 14): one gateway, its cache on a deliberately small filesystem (a tmpfs of its
// own when root; otherwise a folder on disk, said so), and everything a bad day brings at once,
// for RECGATE_SOAK_SECONDS (45 by default; scripts/soak SECONDS sets it):
//   keyed hits on hot recordings, cold fills larger than the free space, slow readers, a keyless
//   header flood, a trickling upstream, disk pressure from another process, SIGHUP reloads and
//   purges.
// It asserts that the gateway never dies, that every complete response's bytes are laml-sim's,
// that no response is shorter than its Content-Length unless the upstream broke off (only the
// trickling recording may be), that resident memory stays under its bound, and that the store
// takes writes again once the space is freed. It prints the figures at the end.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway_fixture.hpp"
#include "header_flood.hpp"
#include "laml_sim/laml_sim.hpp"
#include "small_filesystem.hpp"

using namespace gateway_test;
using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

#ifdef RECGATE_SANITIZED
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

constexpr std::uint64_t mib = 1 << 20;
// The bound on the gateway's resident memory: the store's block cache (64 MiB) and memtables,
// 300 flooding connections, the fills and slow readers, the allocator's own.
constexpr long rss_bound_kib = 160 * 1024;

std::chrono::seconds soak_duration() {
  if (const char* s = std::getenv("RECGATE_SOAK_SECONDS"))
    return std::chrono::seconds(std::atol(s));
  return 45s;
}

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

// What the load saw, by kind, across threads.
struct tally {
  std::mutex mutex;
  std::map<std::string, std::uint64_t> counts;  // "hits: HIT", "cold: short", ...
  std::vector<std::string> violations;          // each one a failed promise, described
  void add(const std::string& what, std::uint64_t n = 1) {
    std::lock_guard lock(mutex);
    counts[what] += n;
  }
  void violation(std::string what) {
    std::lock_guard lock(mutex);
    if (violations.size() < 20) violations.push_back(std::move(what));
    counts["violations"] += 1;
  }
};

// One response checked against the promises: complete and right, or (allowed only when the
// upstream broke off) cut short with the right bytes so far.
void check_response(tally& t, const std::string& load, const test_support::http_result& r,
                    const std::string& expected, bool upstream_may_break) {
  if (r.status == 0) {
    t.violation(load + ": no answer: " + r.error);
    return;
  }
  if (r.status != 200) {
    t.add(load + ": status " + std::to_string(r.status));
    if (r.status != 503 && r.status != 502)
      t.violation(load + ": status " + std::to_string(r.status));
    return;
  }
  t.add(load + ": " + r.header("X-Cache").value_or("-"));
  if (!r.ok()) {
    if (!upstream_may_break) {
      t.violation(load + ": cut short after " + std::to_string(r.body.size()) + " bytes (" +
                  r.error + "), X-Cache " + r.header("X-Cache").value_or("-") + ", request " +
                  r.header("X-Request-Id").value_or("-"));
    }
    t.add(load + ": cut short");
    if (expected.compare(0, r.body.size(), r.body) != 0)
      t.violation(load + ": wrong bytes before the cut");
    return;
  }
  if (r.body != expected) t.violation(load + ": a complete response with the wrong bytes");
}

}  // namespace

TEST_CASE(
    "soak: hits, oversized fills, slow readers, a header flood, a trickling upstream, disk "
    "pressure, reloads and purges, all at once") {
  const auto duration = soak_duration();
  test_support::small_filesystem fs(96 * mib);
  stack_options o;
  o.cache = true;
  if (fs.available()) {
    o.cache_path = (fs.path() / "cache").string();
  } else {
    WARN_MESSAGE(false, "the cache is on the ordinary disk, not a small filesystem: " << fs.why());
  }
  o.extra_server = "header_timeout = \"2s\"\n";
  o.upstream_idle_timeout = "3s";
  o.extra_upstream = "min_body_rate = 4096\nbody_rate_window = \"3s\"\nbreaker_failures = 0\n";
  stack s(o);
  const int pid = s.gateway_pid();

  // The hot set: 16 recordings of 32 KiB to 256 KiB, and their expected bodies.
  std::vector<std::string> hot;
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 16; ++i) {
    hot.push_back(laml_sim::sized_sid(15000 + i, (32u << 10) << (i % 4)));
    expected[hot.back()] = expected_body(hot.back(), "wav");
  }
  const auto trickle = laml_sim::sized_sid(15100, 200000);
  s.sim_fault({{"sid", trickle}, {"bytes_per_second", 2}});

  tally t;
  std::atomic<bool> stop{false};
  std::atomic<long> peak_rss{rss_kib(pid)};
  std::atomic<bool> died{false};
  std::vector<std::thread> load;

  // Keyed hits, four clients.
  for (int c = 0; c < 4; ++c) {
    load.emplace_back([&, c] {
      std::mt19937 rng(c);
      while (!stop) {
        const auto& sid = hot[rng() % hot.size()];
        auto r = s.get(recording_path(sid, "wav"));
        check_response(t, "hits", r, expected[sid], false);
      }
    });
  }
  // Cold fills larger than the free space (24 MiB each on 96 MiB with pressure): streamed whole.
  load.emplace_back([&] {
    for (int i = 0; !stop; ++i) {
      auto sid = laml_sim::sized_sid(15200 + i, 24 * mib);
      auto r = s.get(recording_path(sid, "wav"));
      check_response(t, "cold", r, expected_body(sid, "wav"), false);
    }
  });
  // Slow readers: eight players taking about 10 KB a second of cold 4 MiB recordings.
  load.emplace_back([&] {
    std::vector<int> fds;
    std::vector<std::uint64_t> got;
    for (int i = 0; i < 8; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      int small = 16 * 1024;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(s.gateway_port());
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        t.violation("slow readers: cannot connect");
        ::close(fd);
        continue;
      }
      auto request = "GET " + recording_path(laml_sim::sized_sid(15300 + i, 4 * mib), "wav") +
                     " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + consumer_key + "\r\n\r\n";
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      fds.push_back(fd);
      got.push_back(0);
    }
    char buffer[1024];
    while (!stop) {
      for (std::size_t i = 0; i < fds.size(); ++i) {
        auto n = ::recv(fds[i], buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) got[i] += static_cast<std::uint64_t>(n);
        if (n == 0) t.violation("slow readers: a connection closed under a slow reader");
      }
      std::this_thread::sleep_for(100ms);
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      t.add("slow readers: KiB taken", got[i] / 1024);
      ::close(fds[i]);
    }
  });
  // The trickling upstream: each request must be cut short, never hang, never look complete.
  load.emplace_back([&] {
    while (!stop) {
      auto r = test_support::request("127.0.0.1", s.gateway_port(), "GET",
                                     recording_path(trickle, "wav"), with_key(), {}, 20s);
      if (r.ok() && r.status == 200) t.violation("trickle: a complete-looking body");
      t.add(r.ok() ? "trickle: answered " + std::to_string(r.status) : "trickle: cut short");
    }
  });
  // Reloads and purges.
  load.emplace_back([&] {
    std::mt19937 rng(7);
    for (int i = 0; !stop; ++i) {
      std::this_thread::sleep_for(1s);
      if (i % 2 == 0) {
        s.signal_gateway(SIGHUP);
        t.add("reloads");
      }
      auto purge = s.admin(
          "DELETE", "/cache/recordings/" + std::string(project_id) + "/" + hot[rng() % hot.size()]);
      t.add("purges: " + std::to_string(purge.status));
      if (purge.status != 200 && purge.status != 500)
        t.violation("purge: " + std::to_string(purge.status));
    }
  });
  // Disk pressure: another process takes the free space now and then, and gives it back.
  load.emplace_back([&] {
    if (!fs.available()) return;
    while (!stop) {
      std::this_thread::sleep_for(3s);
      fs.fill_leaving(512 * 1024);
      t.add("disk filled");
      std::this_thread::sleep_for(3s);
      fs.release_filler();
    }
  });
  // The watch: alive, and memory.
  load.emplace_back([&] {
    while (!stop) {
      if (::kill(pid, 0) != 0) died = true;
      long now = rss_kib(pid);
      long seen = peak_rss.load();
      while (now > seen && !peak_rss.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(50ms);
    }
  });

  test_support::header_flood_totals flood_totals;
  {
    // The keyless flood: 300 connections, 160 KB heads, 8 MB/s in all.
    test_support::header_flood_options flood;
    flood.port = s.gateway_port();
    flood.connections = 300;
    flood.bytes_per_second = 8 << 20;
    test_support::header_flood f(flood);
    std::this_thread::sleep_for(duration);
    flood_totals = f.stop();
  }
  stop = true;
  for (auto& th : load) th.join();
  fs.release_filler();

  CHECK_FALSE(died.load());
  REQUIRE(::kill(pid, 0) == 0);
  // The store takes writes once the space is back, and caches again.
  CHECK(wait_metric(s, "recgate_cache_store_writable", exactly(1), 45s));
  // A new recording is cached again (within a few tries: the floor is restored by eviction).
  auto fresh = laml_sim::sized_sid(15400, 64 * 1024);
  std::string cached_as;
  for (auto until = steady::now() + 30s; cached_as != "HIT" && steady::now() < until;) {
    auto r = s.get(recording_path(fresh, "wav"));
    CHECK(r.body == expected_body(fresh, "wav"));
    cached_as = r.header("X-Cache").value_or("-");
    if (cached_as != "HIT") std::this_thread::sleep_for(500ms);
  }
  CHECK_MESSAGE(cached_as == "HIT", s.admin("GET", "/cache/stats").body);

  auto m = scrape(s);
  std::ostringstream figures;
  figures << "soak of " << duration.count() << " s"
          << (fs.available() ? " on a 96 MiB tmpfs" : " on the ordinary disk") << ":\n";
  for (const auto& [what, n] : t.counts) figures << "  " << what << ": " << n << "\n";
  figures << "  flood: " << flood_totals.connections << " connections, "
          << flood_totals.bytes_sent / mib << " MiB sent, " << flood_totals.answers_431
          << " answered 431\n";
  figures << "  peak RSS: " << peak_rss.load() / 1024 << " MiB (bound " << rss_bound_kib / 1024
          << " MiB)\n";
  for (const auto& [series, value] : m) {
    if (series.starts_with("recgate_upstream_errors_total") ||
        series.starts_with("recgate_cache_write_failures") ||
        series.starts_with("recgate_cache_store_recoveries") ||
        series.starts_with("recgate_cache_relays") ||
        series.starts_with("recgate_cache_bypasses") ||
        series.starts_with("recgate_cache_evictions") ||
        series.starts_with("recgate_handler_exceptions")) {
      if (value > 0) figures << "  " << series << " " << value << "\n";
    }
  }
  MESSAGE(figures.str());
  // The gateway's own account of each violation, by request id.
  for (const auto& v : t.violations) {
    auto at = v.find("request ");
    if (at == std::string::npos) continue;
    auto id = v.substr(at + 8);
    for (const auto& line : s.gateway_lines()) {
      if (line.find(id) != std::string::npos) MESSAGE(line);
    }
  }
  for (const auto& v : t.violations) CHECK_MESSAGE(false, v);
  CHECK(t.counts["violations"] == 0);
  CHECK(t.counts["hits: HIT"] > 0);
  CHECK(flood_totals.answers_431 > 0);
  CHECK(m["recgate_handler_exceptions_total"] == 0);
  if (!sanitized) CHECK(peak_rss.load() < rss_bound_kib);
}
