// An upstream that trickles, and one that refuses the gateway's own credentials (issue 14): a
// body below the minimum rate or past its deadline is given up on (counted, logged, nothing
// kept, the upstream connection let go, with or without a client), and a refused API token is
// the gateway's failure, not the consumer's.
#include <csignal>
#include <fstream>
#include <future>
#include <thread>

#include <doctest/doctest.h>

#include "artifacts.hpp"
#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;
using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

const std::string slow_series = "recgate_upstream_errors_total{project=\"default\",kind=\"slow\"}";

stack_options trickle_options() {
  stack_options o;
  o.cache = true;
  o.upstream_idle_timeout = "5s";  // a byte a second never trips it
  o.extra_upstream =
      "retries = 0\nbreaker_failures = 0\nmin_body_rate = 1024\nbody_rate_window = \"2s\"\n";
  return o;
}

}  // namespace

TEST_CASE("an upstream body below min_body_rate is given up on: counted, logged, nothing kept") {
  stack s(trickle_options());
  const auto sid = laml_sim::sized_sid(14801, 100000);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 1}});
  auto before = scrape(s);
  auto started = steady::now();
  auto r = s.get(recording_path(sid, "wav"), with_key({{"X-Request-Id", "trickle-1"}}));
  auto took = steady::now() - started;
  // The head went out, then the body was cut short: never a complete-looking wrong body.
  CHECK(r.status == 200);
  CHECK_FALSE(r.ok());
  CHECK(r.body.size() < 100);
  CHECK(took <
        8s);  // the window (2 s of waiting) and a little; not the 28 hours a byte a second takes
  CHECK(s.wait_gateway_line({"trickle-1", "[kind=slow]", "below min_body_rate"}));
  CHECK(wait_metric(s, slow_series, at_least(before[slow_series] + 1), 5s));
  CHECK(wait_metric(s, "recgate_cache_fills_failed_total", at_least(1), 5s));
  CHECK(scrape(s)["recgate_cache_fills_committed_total"] == 0);
  CHECK(scrape(s)["recgate_cache_fills_in_progress"] == 0);
}

TEST_CASE("a trickling upstream with no client left: the fill and its connection end anyway") {
  stack s(trickle_options());
  const auto sid = laml_sim::sized_sid(14802, 100000);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 1}});
  // The client gives up after a second; the fill belongs to the cache and would go on.
  auto r = test_support::request("127.0.0.1", s.gateway_port(), "GET", recording_path(sid, "wav"),
                                 with_key(), {}, 1s);
  CHECK_FALSE(r.ok());
  REQUIRE(wait_metric(s, "recgate_cache_fills_in_progress", exactly(0), 10s));
  CHECK(scrape(s)[slow_series] >= 1);
  // Nothing was kept, and the next request starts afresh once the upstream is healthy.
  s.sim_clear_faults();
  auto again = s.get(recording_path(sid, "wav"));
  CHECK(again.header("X-Cache") == std::string("MISS"));
  CHECK(again.body == expected_body(sid, "wav"));
}

TEST_CASE("an upstream body past body_timeout is given up on, however fast it trickles") {
  auto o = trickle_options();
  o.extra_upstream =
      "retries = 0\nbreaker_failures = 0\nmin_body_rate = 1024\n"
      "body_rate_window = \"10s\"\nbody_timeout = \"2s\"\n";
  stack s(o);
  const auto sid = laml_sim::sized_sid(14803, 400000);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 20000}});  // 20 s for the whole body
  auto started = steady::now();
  auto r = s.get(recording_path(sid, "wav"), with_key({{"X-Request-Id", "deadline-1"}}));
  CHECK_FALSE(r.ok());
  CHECK(r.body.size() < 400000);
  CHECK(steady::now() - started < 6s);
  CHECK(s.wait_gateway_line({"deadline-1", "[kind=slow]", "body_timeout"}));
}

TEST_CASE(
    "a refused API token is the gateway's failure: 502, logged once, counted, shown; "
    "SIGHUP with a fixed token file clears it") {
  stack_options o;
  stack s(o);
  const auto sid = laml_sim::normal_sid(14804);
  const auto token_file = s.dir() / "token";
  const std::string wrong = "PT-wrong-token-0d1e2f3a4b5c6d7e8f90";
  test_support::artifacts::add_secret(wrong);
  std::ofstream(token_file) << wrong << "\n";
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_line({"configuration reloaded"}));

  for (int i = 0; i < 3; ++i) {
    auto r = s.get(recording_path(sid, "json"));
    check_json_error(r, 502);
    CHECK(json::parse(r.body)["message"].get<std::string>().find("credentials") !=
          std::string::npos);
  }
  // The consumer's own key is fine: audio still plays.
  CHECK(s.get(recording_path(sid, "wav")).status == 200);
  std::size_t logged = 0;
  for (const auto& line : s.gateway_lines()) {
    logged += line.find("refused the gateway's credentials") != std::string::npos &&
              line.find("\"level\":\"error\"") != std::string::npos;
  }
  CHECK(logged == 1);
  auto m = scrape(s);
  CHECK(m[R"(recgate_upstream_credentials_refused{project="default"})"] == 1);
  CHECK(m["recgate_upstream_errors_total{project=\"default\",kind=\"credentials\"}"] == 3);
  auto ready = json::parse(s.admin("GET", "/readyz").body);
  CHECK(ready["credentials"] == "refused");
  CHECK(ready["status"] == "degraded");

  std::ofstream(token_file) << api_token << "\n";
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_line({"configuration reloaded"}));
  auto fixed = s.get(recording_path(sid, "json"));
  CHECK(fixed.status == 200);
  CHECK(fixed.body == expected_body(sid, "json"));
  CHECK(scrape(s)[R"(recgate_upstream_credentials_refused{project="default"})"] == 0);
  ready = json::parse(s.admin("GET", "/readyz").body);
  CHECK(ready["credentials"] == "accepted");
  CHECK(ready["status"] == "ready");
}
