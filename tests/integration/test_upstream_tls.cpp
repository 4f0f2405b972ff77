// The gateway's HTTPS upstream end to end: laml-sim serving TLS with certificates made here by the
// openssl command line, recgate verifying the chain (ca_file or the system store) and the host
// name or IP, and sending SNI for names only.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"
#include "test_pki.hpp"

using namespace gateway_test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A stack whose simulator serves `cert` over TLS, reached by the gateway at scheme_host:port.
stack_options tls_stack(const fs::path& cert, const std::string& scheme_host,
                        const std::string& extra_upstream) {
  stack_options o;
  o.sim_args = {"--tls-cert", cert.string(), "--tls-key", pki().key.string()};
  o.upstream_scheme_host = scheme_host;
  o.extra_upstream = extra_upstream;
  return o;
}

std::string ca_file_line() { return "ca_file = \"" + pki().ca.string() + "\""; }

// GET /__sim/requests from the TLS simulator. The counters are test plumbing: curl does not
// verify (-k) and, given an IP, sends no SNI; /__sim/ requests are not counted themselves.
json sim_tls_stats(const stack& s) {
  return json::parse(
      run({"curl", "-sS", "-k", "--max-time", "5",
           "https://127.0.0.1:" + std::to_string(s.sim_port()) + "/__sim/requests"}));
}

// The gateway's 502 may reach the test before the simulator has read the client's alert: polls
// the counters (each poll is a curl run) until `done` holds or 3 s have passed.
json wait_for_sim_stats(const stack& s, const std::function<bool(const json&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  json stats = sim_tls_stats(s);
  while (!done(stats) && std::chrono::steady_clock::now() < deadline) stats = sim_tls_stats(s);
  return stats;
}

std::string expected_wav(const std::string& sid) {
  std::string out(laml_sim::body_size(sid, laml_sim::audio_format::wav, sim_duration), '\0');
  laml_sim::fill_body(sid, laml_sim::audio_format::wav, sim_duration, 0,
                      std::span<char>(out.data(), out.size()));
  return out;
}

// A verification failure: 502 with the JSON error body, nothing served upstream, the simulator
// saw the handshake fail.
void check_rejected(stack& s, const std::string& sid) {
  for (const auto* ext : {"wav", "json"}) {
    CAPTURE(ext);
    const auto r = s.get(recording_path(sid, ext));
    REQUIRE(r.ok());
    CHECK(r.status == 502);
    CHECK(r.header("Content-Type") == std::string("application/json"));
    const auto body = json::parse(r.body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body.at("status") == 502);
    CHECK(body.at("code") == 20502);
  }
  const json stats =
      wait_for_sim_stats(s, [](const json& j) { return j.at("tls_handshake_failures") >= 2; });
  CHECK(stats.at("tls_handshake_failures") == 2);
  CHECK(stats.at("total") == 0);
  CHECK(stats.at("sni").empty());
}

}  // namespace

TEST_CASE("https upstream by name, verified against ca_file: bytes pass, SNI sent") {
  stack s(tls_stack(pki().localhost, "https://localhost", ca_file_line()));
  const auto sid = laml_sim::normal_sid(41);

  const auto wav = s.get(recording_path(sid, "wav"));
  REQUIRE(wav.ok());
  CHECK(wav.status == 200);
  CHECK(wav.body == expected_wav(sid));
  CHECK(wav.header("Content-Type") == std::string("audio/x-wav"));

  const auto meta = s.get(recording_path(sid, "json"));
  REQUIRE(meta.ok());
  CHECK(meta.status == 200);
  CHECK(meta.body == laml_sim::metadata_json(sid, project_id, sim_duration));

  const json stats = sim_tls_stats(s);
  CHECK(stats.at("total") == 2);
  CHECK(stats.at("authorized_json") == 1);  // the token still goes upstream, now encrypted
  CHECK(stats.at("sni") == json{{"localhost", 2}});
  CHECK(stats.at("tls_handshake_failures") == 0);
}

TEST_CASE("https upstream by IP: the IP SAN is verified, no SNI is sent") {
  stack s(tls_stack(pki().localhost, "https://127.0.0.1", ca_file_line()));
  const auto sid = laml_sim::normal_sid(42);
  const auto r = s.get(recording_path(sid, "wav"));
  REQUIRE(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body == expected_wav(sid));
  const json stats = sim_tls_stats(s);
  CHECK(stats.at("sni") == json{{"", 1}});
  CHECK(stats.at("tls_handshake_failures") == 0);
}

TEST_CASE("https upstream verification failures answer 502 and serve nothing") {
  const auto sid = laml_sim::normal_sid(43);
  SUBCASE("a CA missing from the system store (no ca_file)") {
    stack s(tls_stack(pki().localhost, "https://localhost", ""));
    check_rejected(s, sid);
  }
  SUBCASE("a certificate for another name") {
    stack s(tls_stack(pki().other, "https://localhost", ca_file_line()));
    check_rejected(s, sid);
  }
  SUBCASE("an expired certificate") {
    stack s(tls_stack(pki().expired, "https://localhost", ca_file_line()));
    check_rejected(s, sid);
  }
}

TEST_CASE("verify_tls = false accepts a certificate for another name (the escape hatch)") {
  stack s(tls_stack(pki().other, "https://localhost", "verify_tls = false"));
  const auto sid = laml_sim::normal_sid(44);
  const auto r = s.get(recording_path(sid, "wav"));
  REQUIRE(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body == expected_wav(sid));
  const json stats = sim_tls_stats(s);
  CHECK(stats.at("sni") == json{{"localhost", 1}});  // SNI is sent all the same
  CHECK(stats.at("tls_handshake_failures") == 0);
}

TEST_CASE("https upstream: kept-alive connections are reused; new ones resume the TLS session") {
  {
    auto options = tls_stack(pki().localhost, "https://localhost", ca_file_line());
    options.threads = 1;  // one pool (pools are per I/O thread)
    stack s(options);
    for (int i = 0; i < 3; ++i)
      CHECK(s.get(recording_path(laml_sim::normal_sid(90 + i), "json")).status == 200);
    const json stats = sim_tls_stats(s);
    CHECK(stats.at("total") == 3);
    CHECK(stats.at("connections") == 1);
  }
  // Without a pool each request needs a handshake: all but the first resume the session.
  stack s(tls_stack(pki().localhost, "https://localhost", ca_file_line() + "\npool_size = 0"));
  for (int i = 0; i < 3; ++i)
    CHECK(s.get(recording_path(laml_sim::normal_sid(95 + i), "wav")).status == 200);
  const json stats = sim_tls_stats(s);
  CHECK(stats.at("connections") == 3);
  CHECK(stats.at("tls_resumed") == 2);
  CHECK(scrape(s)[R"(recgate_upstream_tls_resumed_total{project="default"})"] == 2);
}
