// The gateway's HTTPS upstream end to end: laml-sim serving TLS with certificates made here by the
// openssl command line, recgate verifying the chain (ca_file or the system store) and the host
// name or IP, and sending SNI for names only.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace gateway_test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs a command to its end and returns its output (stdout and stderr). Fails the test unless it
// exits 0 within `timeout`.
std::string run(const std::vector<std::string>& argv,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  test_support::child_process p(argv);
  // Never matches: returns once the output has ended, so lines() below is complete.
  p.wait_for_line([](std::string_view) { return false; }, timeout);
  const auto code = p.wait_exit(timeout);
  std::string out;
  for (const auto& line : p.lines()) out += line + "\n";
  REQUIRE_MESSAGE(code == 0, argv[0], " ", argv[1], " failed: ", out);
  return out;
}

// A test CA and the server certificates signed by it, made once for the whole file (~0.1 s).
// Every server certificate has the same key.
struct test_pki {
  fs::path dir;
  fs::path ca;         // the CA certificate: what ca_file points at
  fs::path key;        // the key of every server certificate below
  fs::path localhost;  // DNS:localhost, IP:127.0.0.1
  fs::path other;      // DNS:other.example only
  fs::path expired;    // DNS:localhost, IP:127.0.0.1, valid in 2020 only

  test_pki() {
    std::random_device rd;
    dir = fs::temp_directory_path() /
          ("recgate-pki-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(dir);
    ca = dir / "ca.pem";
    key = dir / "server.key";
    localhost = dir / "localhost.pem";
    other = dir / "other.pem";
    expired = dir / "expired.pem";
    const std::string ca_key = (dir / "ca.key").string();
    // EC keys: an RSA key costs more than all the rest together.
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", ca_key, "-out", ca.string(), "-days", "2", "-subj",
         "/CN=recgate test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
         "keyUsage=critical,keyCertSign,cRLSign"});
    run({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-out", key.string()});
    const fs::path localhost_csr = request("localhost", "DNS:localhost,IP:127.0.0.1");
    sign(localhost_csr, localhost);
    sign(request("other.example", "DNS:other.example"), other);

    // `openssl x509 -req` in OpenSSL 3.0 cannot backdate a certificate; `openssl ca` can, given a
    // minimal configuration and its database files.
    std::ofstream(dir / "ca.cnf") << "[ca]\ndefault_ca = test_ca\n"
                                  << "[test_ca]\ndatabase = " << (dir / "index.txt").string()
                                  << "\nserial = " << (dir / "serial").string()
                                  << "\nnew_certs_dir = " << dir.string()
                                  << "\ndefault_md = sha256\npolicy = any\n"
                                  << "copy_extensions = copy\nunique_subject = no\n"
                                  << "[any]\ncommonName = supplied\n";
    std::ofstream(dir / "index.txt").flush();
    run({"openssl", "ca", "-batch", "-config", (dir / "ca.cnf").string(), "-cert", ca.string(),
         "-keyfile", ca_key, "-in", localhost_csr.string(), "-out", expired.string(),
         "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-rand_serial",
         "-notext"});
  }
  ~test_pki() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;

 private:
  fs::path request(const std::string& cn, const std::string& san) {
    const fs::path csr = dir / (cn + ".csr");
    run({"openssl", "req", "-new", "-key", key.string(), "-subj", "/CN=" + cn, "-addext",
         "subjectAltName=" + san, "-out", csr.string()});
    return csr;
  }
  void sign(const fs::path& csr, const fs::path& out) {
    run({"openssl", "x509", "-req", "-in", csr.string(), "-CA", ca.string(), "-CAkey",
         (dir / "ca.key").string(), "-days", "2", "-copy_extensions", "copy", "-out",
         out.string()});
  }
};

const test_pki& pki() {
  static const test_pki instance;
  return instance;
}

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
  return json::parse(run({"curl", "-sS", "-k", "--max-time", "5",
                          "https://127.0.0.1:" + std::to_string(s.sim_port()) +
                              "/__sim/requests"}));
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
