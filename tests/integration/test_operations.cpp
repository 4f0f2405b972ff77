// What an operator relies on: the upstream connection pool, retries, the circuit breaker,
// stale metadata while the upstream fails, /metrics and /readyz.
#include <atomic>
#include <ctime>
#include <thread>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;
using json = nlohmann::json;

namespace {

std::string json_path(const std::string& sid) { return recording_path(sid, "json"); }

// A minimal egress proxy on loopback: answers CONNECT host:port with 200 and relays bytes both
// ways (or refuses every CONNECT with 403). Counts the tunnels it opened.
class connect_proxy {
 public:
  explicit connect_proxy(bool refuse = false) : refuse_(refuse) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~connect_proxy() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
    for (auto& t : tunnels_) t.join();
  }
  unsigned short port() const { return port_; }
  int tunnels() const { return opened_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      tunnels_.emplace_back([this, client] { serve(client); });
    }
  }
  void serve(int client) {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && ::recv(client, &c, 1, 0) == 1) head += c;
    unsigned port = 0;
    auto colon = head.find(':');
    auto space = head.find(' ', colon);
    if (head.starts_with("CONNECT 127.0.0.1:") && colon != std::string::npos) {
      port = static_cast<unsigned>(std::stoul(head.substr(colon + 1, space - colon - 1)));
    }
    int upstream = -1;
    if (!refuse_ && port != 0) {
      upstream = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(upstream);
        upstream = -1;
      }
    }
    const std::string answer = upstream < 0 ? "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
                                            : "HTTP/1.1 200 Connection established\r\n\r\n";
    ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
    if (upstream >= 0) {
      ++opened_;
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      char buf[16384];
      while (!stop_ && ::poll(fds, 2, 200) >= 0) {
        bool done = false;
        for (int i = 0; i < 2; ++i) {
          if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
          auto n = ::recv(fds[i].fd, buf, sizeof buf, 0);
          if (n <= 0 || ::send(fds[1 - i].fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) < 0) {
            done = true;
          }
        }
        if (done) break;
      }
      ::close(upstream);
    }
    ::close(client);
  }

  bool refuse_;
  int listener_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> opened_{0};
  std::thread thread_;
  std::vector<std::thread> tunnels_;
};

}  // namespace

TEST_CASE("upstream connections are kept alive and reused; pool_size = 0 opens one per request") {
  for (unsigned pool : {32u, 0u}) {
    CAPTURE(pool);
    stack_options options;
    options.extra_upstream = "pool_size = " + std::to_string(pool) + "\n";
    options.threads = 1;  // one I/O thread: one pool (pools are per thread)
    stack s(options);
    for (int i = 0; i < 10; ++i) {
      auto r = s.get(json_path(laml_sim::normal_sid(500 + i)));
      REQUIRE(r.status == 200);
    }
    auto stats = s.sim_stats();
    CHECK(stats["total"] == 10);
    auto m = scrape(s);
    if (pool > 0) {
      CHECK(stats["connections"] == 1);  // one request at a time: one connection serves all
      CHECK(m[R"(recgate_upstream_connections_reused_total{project="default"})"] == 9);
    } else {
      CHECK(stats["connections"] == 10);
      CHECK(m[R"(recgate_upstream_connections_reused_total{project="default"})"] == 0);
    }
  }
}

TEST_CASE(
    "each I/O thread keeps its own upstream connections: no request waits on another thread") {
  stack_options options;
  options.threads = 2;
  stack s(options);
  // Client connections go to the two threads in turn: one upstream connection per thread
  // serves all of that thread's requests.
  for (int i = 0; i < 10; ++i)
    REQUIRE(s.get(json_path(laml_sim::normal_sid(520 + i))).status == 200);
  auto stats = s.sim_stats();
  CHECK(stats["total"] == 10);
  CHECK(stats["connections"] == 2);
  CHECK(scrape(s)[R"(recgate_upstream_connections_reused_total{project="default"})"] == 8);
}

TEST_CASE("a failure before any byte reached the client is retried, with backoff") {
  stack s;
  auto sid = laml_sim::normal_sid(510);
  s.sim_fault({{"sid", sid}, {"status", 503}, {"times", 2}});
  auto r = s.get(json_path(sid));
  CHECK(r.status == 200);
  CHECK(upstream_fetches(s, json_path(sid)) == 3);
  auto m = scrape(s);
  CHECK(m[R"(recgate_upstream_retries_total{project="default"})"] == 2);
  CHECK(m[R"(recgate_upstream_failures_total{project="default"})"] == 2);
  // Backoff 100 ms then 200 ms, each jittered into its upper half: at least 150 ms in all.
  CHECK(r.total_time >= std::chrono::milliseconds(150));

  // A 500 is the upstream's answer, not a transient failure: passed on (as 502), not retried.
  auto hard = laml_sim::normal_sid(511);
  s.sim_fault({{"sid", hard}, {"status", 500}});
  check_json_error(s.get(json_path(hard)), 502);
  CHECK(upstream_fetches(s, json_path(hard)) == 1);
}

TEST_CASE("the circuit breaker fails fast while the upstream is down and probes it back") {
  stack_options options;
  options.extra_upstream = "retries = 0\nbreaker_failures = 3\nbreaker_cooldown = \"1s\"\n";
  stack s(options);
  auto failing = laml_sim::normal_sid(520);
  s.sim_fault({{"sid", failing}, {"status", 503}});
  for (int i = 0; i < 3; ++i) check_json_error(s.get(json_path(failing)), 502);

  // Open: a healthy recording is not even asked for; 503 with Retry-After, at once.
  auto healthy = laml_sim::normal_sid(521);
  auto fast = s.get(json_path(healthy));
  check_json_error(fast, 503);
  CHECK(fast.header("Retry-After") == std::string("1"));
  CHECK(fast.total_time < std::chrono::milliseconds(500));
  CHECK(upstream_fetches(s, json_path(healthy)) == 0);
  auto m = scrape(s);
  CHECK(m[R"(recgate_upstream_circuit_open{project="default"})"] == 1);
  CHECK(m[R"(recgate_upstream_breaker_rejections_total{project="default"})"] >= 1);
  CHECK(s.admin("GET", "/readyz").status == 503);

  // The upstream recovers: after the cooldown one probe goes through and closes the circuit.
  s.sim_clear_faults();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  unsigned status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = s.get(json_path(healthy)).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(status == 200);
  CHECK(scrape(s)[R"(recgate_upstream_circuit_open{project="default"})"] == 0);
  CHECK(s.get(json_path(failing)).status == 200);
}

TEST_CASE("kept metadata is served stale while the upstream fails (stale_if_error)") {
  stack_options options;
  options.cache = true;
  options.extra_cache = "metadata_ttl = \"300ms\"\nstale_if_error = \"1m\"\n";
  options.extra_upstream = "retries = 0\n";
  stack s(options);
  auto sid = laml_sim::normal_sid(530);
  auto first = s.get(json_path(sid));
  REQUIRE(first.status == 200);
  CHECK(first.header("X-Cache") == std::string("MISS"));
  s.sim_fault({{"sid", sid}, {"status", 500}});
  // Fresh: a HIT, no upstream request. Once the TTL has passed, the upstream is asked, fails,
  // and the kept body is served as STALE.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  test_support::http_result r;
  do {
    r = s.get(json_path(sid));
    REQUIRE(r.status == 200);
  } while (r.header("X-Cache") == std::string("HIT") &&
           std::chrono::steady_clock::now() < deadline);
  CHECK(r.header("X-Cache") == std::string("STALE"));
  CHECK(r.body == first.body);
  CHECK(upstream_fetches(s, json_path(sid)) == 2);

  // A recording never kept has nothing stale to give: the error passes.
  auto other = laml_sim::normal_sid(531);
  s.sim_fault({{"sid", other}, {"status", 500}});
  check_json_error(s.get(json_path(other)), 502);
}

TEST_CASE("/metrics parses as Prometheus text and its counters move with requests") {
  stack_options options;
  options.cache = true;
  stack s(options);
  auto before = scrape(s);
  auto sid = laml_sim::normal_sid(540);
  auto a = s.get(recording_path(sid, "wav"));
  auto b = s.get(recording_path(sid, "wav"));
  REQUIRE(a.status == 200);
  REQUIRE(b.status == 200);
  REQUIRE(s.get(json_path(sid)).status == 200);
  CHECK(s.get(recording_path(sid, "wav"), {}).status == 401);
  auto after = scrape(s);
  const std::string audio_ok =
      R"(recgate_requests_total{route="audio",status="200",consumer="billing-service",project="default"})";
  CHECK(after[audio_ok] - before[audio_ok] == 2);
  CHECK(
      after
          [R"(recgate_requests_total{route="metadata",status="200",consumer="billing-service",project="default"})"] ==
      1);
  CHECK(after[R"(recgate_requests_total{route="audio",status="401",consumer="-",project="-"})"] ==
        1);
  CHECK(after["recgate_cache_misses_total"] - before["recgate_cache_misses_total"] == 1);
  CHECK(after["recgate_cache_hits_total"] - before["recgate_cache_hits_total"] == 1);
  CHECK(after[R"(recgate_response_body_bytes_total{cache="HIT"})"] == b.body.size());
  CHECK(after["recgate_cache_bytes_saved_total"] == b.body.size());
  CHECK(after["recgate_upstream_bytes_total"] == a.body.size());
  CHECK(after["recgate_cache_objects"] == 1);
  CHECK(after["recgate_upstream_response_seconds_count"] == 2);  // the wav fill and the json
  CHECK(after[R"(recgate_upstream_response_seconds_bucket{le="+Inf"})"] == 2);
  CHECK(after["recgate_cache_fills_in_progress"] == 0);
}

TEST_CASE("/metrics: latency by route and cache outcome, the process_* metrics, build info") {
  stack_options options;
  options.cache = true;
  stack s(options);
  auto sid = laml_sim::normal_sid(543);
  auto fill = s.get(recording_path(sid, "wav"));
  auto hit = s.get(recording_path(sid, "wav"));
  auto meta = s.get(json_path(sid));
  REQUIRE(fill.status == 200);
  REQUIRE(hit.status == 200);
  REQUIRE(meta.status == 200);
  REQUIRE(hit.header("X-Cache") == std::string("HIT"));
  const std::string fill_cache = fill.header("X-Cache").value_or("?");
  const std::string meta_cache = meta.header("X-Cache").value_or("-");
  auto series = [](const std::string& name, const std::string& route, const std::string& cache) {
    return name + "{route=\"" + route + "\",cache=\"" + cache + "\"}";
  };
  const std::string duration = "recgate_request_duration_seconds";
  const std::string first_byte = "recgate_request_first_byte_seconds";
  // Counted just after the answer's last byte: wait for the last request's.
  REQUIRE(wait_metric(s, series(duration + "_count", "metadata", meta_cache),
                      [](double v) { return v == 1; }));
  auto m = scrape(s);
  CAPTURE(fill_cache);
  const double hits = fill_cache == "HIT" ? 2 : 1;
  CHECK(m[series(duration + "_count", "audio", "HIT")] == hits);
  CHECK(m[series(first_byte + "_count", "audio", "HIT")] == hits);
  if (fill_cache != "HIT") CHECK(m[series(duration + "_count", "audio", fill_cache)] == 1);
  CHECK(m[series(first_byte + "_count", "metadata", meta_cache)] == 1);
  // Buckets: cumulative up to +Inf, which is the count; the first byte comes before the last.
  const std::string hit_labels = R"(route="audio",cache="HIT",)";
  CHECK(m[duration + "_bucket{" + hit_labels + R"(le="+Inf"})"] == hits);
  CHECK(m[duration + "_bucket{" + hit_labels + R"(le="0.0001"})"] <=
        m[duration + "_bucket{" + hit_labels + R"(le="10"})"]);
  CHECK(m[duration + "_bucket{" + hit_labels + R"(le="10"})"] == hits);
  CHECK(m[series(first_byte + "_sum", "audio", "HIT")] <=
        m[series(duration + "_sum", "audio", "HIT")]);
  CHECK(m[series(duration + "_sum", "audio", "HIT")] > 0);
  // Nothing was asked of a route that did not answer.
  CHECK(m.count(series(duration + "_count", "sign", "-")) == 0);

  // The process: some memory, some CPU, a few descriptors, started moments ago.
  CHECK(m["process_resident_memory_bytes"] > 1e6);
  CHECK(m["process_virtual_memory_bytes"] >= m["process_resident_memory_bytes"]);
  CHECK(m["process_cpu_seconds_total"] > 0);
  CHECK(m["process_open_fds"] >= 4);
  CHECK(m["process_max_fds"] >= m["process_open_fds"]);
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(m["process_start_time_seconds"] <= now + 1);
  CHECK(m["process_start_time_seconds"] > now - 600);

  // recgate_build_info: the version --version prints, and a revision.
  std::string info;
  for (const auto& [key, value] : m) {
    if (key.starts_with("recgate_build_info{")) {
      info = key;
      CHECK(value == 1);
    }
  }
  CAPTURE(info);
  CHECK(info.starts_with(R"(recgate_build_info{version=")"));
  CHECK(info.find(R"(",revision=")") != std::string::npos);
  CHECK(info.find(R"(revision=""})") == std::string::npos);
}

TEST_CASE("access lines: one whole line per request, also across batches, out within seconds") {
  stack s;
  // ~400 bytes of JSON each: 200 lines fill more than two 32 KiB batches.
  constexpr int requests = 200;
  auto sid = laml_sim::normal_sid(541);
  for (int i = 0; i < requests; ++i) {
    auto id = "access-" + std::to_string(i);
    REQUIRE(s.get(json_path(sid), with_key({{"X-Request-Id", id}})).status == 200);
  }
  // No stop, no signal: the last batch goes out by itself (spdlog's flusher, once a second).
  REQUIRE(s.wait_gateway_output(R"("request_id":"access-)" + std::to_string(requests - 1) + '"'));
  std::map<std::string, int> seen;
  for (const auto& line : s.gateway_lines()) {
    if (line.find(R"("log":"access")") == std::string::npos) continue;
    auto entry = json::parse(line, nullptr, false);  // a line cut or joined would not parse
    CAPTURE(line);
    REQUIRE_FALSE(entry.is_discarded());
    auto id = entry["request_id"].get<std::string>();
    if (!id.starts_with("access-")) continue;
    ++seen[id];
    CHECK(entry["status"] == 200);
    CHECK(entry["consumer"] == "billing-service");
    CHECK(entry["path"] == json_path(sid));
  }
  CHECK(seen.size() == requests);
  for (const auto& [id, n] : seen) {
    CAPTURE(id);
    CHECK(n == 1);
  }
}

TEST_CASE("/readyz: ready with a reachable upstream, not ready without one; /healthz stays up") {
  stack s;
  auto ready = s.admin("GET", "/readyz");
  CHECK(ready.status == 200);
  CHECK(json::parse(ready.body)["upstream"] == "reachable");
  s.stop_sim();
  // The last probe is remembered for 5 s; then a new one finds nothing listening.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  unsigned status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    status = s.admin("GET", "/readyz").status;
    if (status == 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(status == 503);
  CHECK(s.admin("GET", "/healthz").status == 200);
}

TEST_CASE("an egress proxy: upstream requests go through its CONNECT tunnel; a refusal is a 502") {
  connect_proxy proxy;
  stack_options options;
  options.extra_upstream =
      "egress_proxy = \"http://127.0.0.1:" + std::to_string(proxy.port()) + "\"\nretries = 0\n";
  stack s(options);
  auto sid = laml_sim::normal_sid(550);
  auto meta = s.get(json_path(sid));
  CHECK(meta.status == 200);
  CHECK(meta.body == s.sim_get(json_path(sid)).body);
  CHECK(s.get(recording_path(sid, "wav")).status == 200);
  CHECK(proxy.tunnels() >= 1);

  connect_proxy refusing(true);
  stack_options refused_options;
  refused_options.extra_upstream =
      "egress_proxy = \"http://127.0.0.1:" + std::to_string(refusing.port()) + "\"\nretries = 0\n";
  stack refused(refused_options);
  check_json_error(refused.get(json_path(sid)), 502);
  CHECK(refused.sim_stats()["total"] == 0);
  CHECK(refusing.tunnels() == 0);
}
