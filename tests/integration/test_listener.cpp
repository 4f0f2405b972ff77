// The client side of production: the TLS listener with client certificates (mTLS), request
// limits (431, header timeout, connections, requests per connection), the bytes-per-second
// limit, signed grants kept in cookies, SIGHUP reload and SIGTERM drain.
#include <csignal>
#include <future>
#include <thread>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"
#include "test_pki.hpp"

using namespace gateway_test;
using json = nlohmann::json;

namespace {

constexpr const char* cert_consumer =
    "[[consumers]]\nid = \"billing-mtls\"\nscopes = [\"audio\", \"metadata\"]\n"
    "accounts = [\"*\"]\ncertificates = [\"DNS:billing.internal\"]\n";

std::string tls_table(bool require_client_certificate) {
  return "[tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"" + pki().localhost.string() +
         "\"\nkey_file = \"" + pki().key.string() + "\"\nclient_ca_file = \"" + pki().ca.string() +
         "\"\nrequire_client_certificate = " + (require_client_certificate ? "true" : "false") +
         "\n";
}

stack_options tls_options(bool require_client_certificate) {
  stack_options o;
  o.tls = true;
  o.extra_config = tls_table(require_client_certificate);
  o.extra_consumers = cert_consumer;
  return o;
}

struct curl_result {
  int status = 0;  // 0: no HTTP answer (the handshake failed, say)
  std::string body;
};

// GET over https with curl, trusting the test CA; optionally with a client certificate.
curl_result curl_https(unsigned short port, const std::string& path,
                       const std::string& client_cert = "",
                       const std::vector<std::string>& headers = {}) {
  auto out = fs::temp_directory_path() /
             ("recgate-curl-" + std::to_string(::getpid()) + "-" + std::to_string(port));
  std::vector<std::string> argv{
      "curl", "-sS",        "--max-time", "10",          "--cacert", pki().ca.string(),
      "-o",   out.string(), "-w",         "%{http_code}"};
  if (!client_cert.empty()) {
    argv.insert(argv.end(), {"--cert", client_cert, "--key", pki().key.string()});
  }
  for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
  argv.push_back("https://127.0.0.1:" + std::to_string(port) + path);
  test_support::child_process p(argv);
  p.wait_for_line([](std::string_view) { return false; }, std::chrono::seconds(15));
  p.wait_exit(std::chrono::seconds(15));
  curl_result r;
  for (const auto& line : p.lines()) {
    if (line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0]))) {
      r.status = std::atoi(line.substr(line.size() - 3).c_str());
    }
  }
  std::ifstream in(out, std::ios::binary);
  r.body.assign(std::istreambuf_iterator<char>(in), {});
  std::error_code ec;
  fs::remove(out, ec);
  return r;
}

// A plain TCP connection the test holds open (idle, or sending a slow header).
class raw_connection {
 public:
  explicit raw_connection(unsigned short port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{15, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~raw_connection() { ::close(fd_); }
  void send(const std::string& s) { (void)::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  // Reads until the peer closes (or 15 s): everything it sent.
  std::string read_to_close() {
    std::string out;
    char buf[4096];
    for (;;) {
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
};

}  // namespace

TEST_CASE("TLS listener: keys work over https; a verified client certificate names a consumer") {
  stack s(tls_options(false));
  auto sid = laml_sim::normal_sid(600);
  auto path = recording_path(sid, "wav");
  auto with_bearer =
      curl_https(s.tls_port(), path, "", {std::string("Authorization: Bearer ") + consumer_key});
  CHECK(with_bearer.status == 200);
  CHECK(with_bearer.body == expected_body(sid, "wav"));
  CHECK(s.get(path).status == 200);  // the plain listener still serves

  // mTLS: the certificate's SAN maps to billing-mtls; no key needed.
  auto billing = pki().client("billing", "DNS:billing.internal");
  auto by_cert = curl_https(s.tls_port(), recording_path(sid, "json"), billing.string());
  CHECK(by_cert.status == 200);
  CHECK(json::parse(by_cert.body, nullptr, false).is_object());
  // A verified certificate no consumer claims, and none at all: 401 (optional mode).
  auto stranger = pki().client("stranger", "DNS:stranger.internal");
  CHECK(curl_https(s.tls_port(), path, stranger.string()).status == 401);
  CHECK(curl_https(s.tls_port(), path).status == 401);
  // On the plain listener a certificate cannot be presented: no way in without a key.
  CHECK(s.get(path, {}).status == 401);

  // The access line names the consumer and the certificate (it comes out with its batch).
  CHECK(s.wait_gateway_line({"billing-mtls", "cert:DNS:billing.internal"}));
}

TEST_CASE("TLS listener with require_client_certificate: no certificate, no connection") {
  stack s(tls_options(true));
  auto path = recording_path(laml_sim::normal_sid(601), "wav");
  CHECK(curl_https(s.tls_port(), path, "", {std::string("Authorization: Bearer ") + consumer_key})
            .status == 0);
  auto billing = pki().client("billing", "DNS:billing.internal");
  CHECK(curl_https(s.tls_port(), path, billing.string()).status == 200);
  CHECK(s.sim_stats()["total"] == 1);
}

TEST_CASE("limits: oversized headers get 431; a slow header is cut off by header_timeout") {
  stack_options o;
  o.extra_server = "header_timeout = \"1s\"\nmax_header_bytes = 4096\n";
  stack s(o);
  auto big = "GET " + recording_path(laml_sim::normal_sid(610), "wav") +
             " HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n";
  auto answer = test_support::raw_exchange("127.0.0.1", s.gateway_port(), big);
  CHECK(answer.starts_with("HTTP/1.1 431"));

  raw_connection slow(s.gateway_port());
  auto started = std::chrono::steady_clock::now();
  slow.send("GET /api/laml/2010-04-01/Acc");  // and never the rest
  auto rest = slow.read_to_close();
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= std::chrono::milliseconds(900));
  CHECK(took < std::chrono::seconds(5));
  // The gateway keeps serving others.
  CHECK(s.get(recording_path(laml_sim::normal_sid(611), "wav")).status == 200);
  CHECK(s.sim_stats()["total"] == 1);
}

TEST_CASE("limits: max_connections answers 503; max_requests_per_connection closes") {
  stack_options o;
  o.extra_server = "max_connections = 2\nmax_requests_per_connection = 2\n";
  stack s(o);
  {
    raw_connection a(s.gateway_port());
    raw_connection b(s.gateway_port());
    // Both are counted once accepted: poll the gauge rather than sleep.
    REQUIRE(wait_metric(s, "recgate_connections_active", exactly(2), std::chrono::seconds(5)));
    auto third = s.get(recording_path(laml_sim::normal_sid(620), "wav"));
    check_json_error(third, 503);
    CHECK(third.header("Retry-After") == std::string("1"));
  }
  // Three pipelined requests: the second answer says Connection: close, the third never comes.
  std::string one = "GET " + recording_path(laml_sim::absent_sid(621), "wav") +
                    " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + consumer_key + "\r\n\r\n";
  std::string answers;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {  // the freed slots may lag a moment
    answers = test_support::raw_exchange("127.0.0.1", s.gateway_port(), one + one + one);
    if (answers.find("HTTP/1.1 503") == std::string::npos) break;
  }
  std::size_t count = 0;
  for (auto at = answers.find("HTTP/1.1 "); at != std::string::npos;
       at = answers.find("HTTP/1.1 ", at + 1)) {
    ++count;
  }
  CHECK(count == 2);
  CHECK(answers.find("Connection: close") != std::string::npos);
}

TEST_CASE("bytes_per_second paces a consumer's responses") {
  stack_options o;
  o.cache = true;
  o.extra_consumers =
      "[[consumers]]\nid = \"slowpoke\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
      "bytes_per_second = 100000\nkey_sha256 = \"" +
      sha256_hex("rgk_slow") + "\"\n";
  stack s(o);
  auto path = recording_path(laml_sim::sized_sid(630, 300000), "wav");
  auto fast = s.get(path);  // fills the cache; unlimited consumer
  REQUIRE(fast.status == 200);
  auto hit = s.get(path);
  CHECK(hit.total_time < std::chrono::milliseconds(1000));
  // 300 kB at 100 kB/s, one second's worth at once: about 2 s.
  auto slow = s.get(path, {{"Authorization", "Bearer rgk_slow"}});
  CHECK(slow.status == 200);
  CHECK(slow.body == fast.body);
  CHECK(slow.total_time >= std::chrono::milliseconds(1500));
  CHECK(slow.total_time < std::chrono::milliseconds(6000));
}

TEST_CASE("a signed URL's grant is kept in a cookie for the recording's other URLs") {
  setenv("RECGATE_TEST_SIGNING_KEY", "a-test-signing-secret-of-at-least-32-bytes", 1);
  stack_options o;
  o.extra_config =
      "[access]\nsigned_cookies = true\n"
      "[[signing_keys]]\nid = \"s1\"\nsecret_env = \"RECGATE_TEST_SIGNING_KEY\"\n";
  o.extra_consumers =
      "[[consumers]]\nid = \"portal\"\nscopes = [\"sign\"]\naccounts = [\"*\"]\n"
      "key_sha256 = \"" +
      sha256_hex("rgk_portal") + "\"\n";
  stack s(o);
  auto sid = laml_sim::normal_sid(640);
  auto minted = test_support::request(
      "127.0.0.1", s.gateway_port(), "POST", "/v1/signed-urls",
      {{"Authorization", "Bearer rgk_portal"}, {"Content-Type", "application/json"}},
      json{{"path", recording_path(sid, "wav")}, {"ttl", "10m"}}.dump());
  REQUIRE(minted.status == 201);
  auto url = json::parse(minted.body)["url"].get<std::string>();
  auto first = s.get(url, {});
  REQUIRE(first.status == 200);
  auto set_cookie = first.header("Set-Cookie");
  REQUIRE(set_cookie);
  auto name = "rg_" + [&] {
    std::string n;
    for (char c : sid)
      if (c != '-') n += c;
    return n;
  }();
  CHECK(set_cookie->starts_with(name + "="));
  CHECK(set_cookie->find("HttpOnly") != std::string::npos);
  auto cookie = set_cookie->substr(0, set_cookie->find(';'));

  // The .mp3 and the SDK-style path, with the cookie and no query string: allowed.
  CHECK(s.get(recording_path(sid, "mp3"), {{"Cookie", "a=b; " + cookie}}).status == 200);
  auto sdk_path = recording_path(sid, "mp3").substr(std::string("/api/laml").size());
  CHECK(s.get(sdk_path, {{"Cookie", cookie}}).status == 200);
  // Not for metadata, not for another recording, not tampered, not without it.
  check_json_error(s.get(recording_path(sid, "json"), {{"Cookie", cookie}}), 403);
  auto other = laml_sim::normal_sid(641);
  check_json_error(s.get(recording_path(other, "mp3"), {{"Cookie", cookie}}), 401);
  auto tampered = cookie;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  check_json_error(s.get(recording_path(sid, "mp3"), {{"Cookie", tampered}}), 403);
  check_json_error(s.get(recording_path(sid, "mp3"), {}), 401);
}

TEST_CASE("SIGHUP reloads the config live; a broken config changes nothing") {
  stack s;
  auto path = recording_path(laml_sim::normal_sid(650), "wav");
  headers newcomer{{"Authorization", "Bearer rgk_newcomer"}};
  CHECK(s.get(path, newcomer).status == 401);
  std::string original;
  {
    std::ifstream in(s.config_path());
    original.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(s.config_path(), std::ios::app)
      << "\n[[consumers]]\nid = \"newcomer\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
      << "key_sha256 = \"" << sha256_hex("rgk_newcomer") << "\"\n";
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_output("configuration reloaded (SIGHUP)"));
  CHECK(s.get(path, newcomer).status == 200);

  std::ofstream(s.config_path(), std::ios::app) << "\n[server\nbroken";
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_output("new configuration rejected (SIGHUP)"));
  CHECK(s.get(path, newcomer).status == 200);
  CHECK(s.get(path).status == 200);
}

TEST_CASE("SIGTERM drains: a slow download in flight completes, then the gateway exits 0") {
  stack s;
  auto sid = laml_sim::sized_sid(660, 200000);
  s.sim_fault({{"sid", sid}, {"bytes_per_second", 100000}});
  auto path = recording_path(sid, "wav");
  auto download = std::async(std::launch::async, [&] {
    return test_support::request("127.0.0.1", s.gateway_port(), "GET", path, with_key(), {},
                                 std::chrono::seconds(20));
  });
  // The request is in flight once the simulator has it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s.sim_stats()["total"] == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(s.sim_stats()["total"] == 1);
  s.signal_gateway(SIGTERM);
  REQUIRE(s.wait_gateway_output("draining"));
  // No new connections while draining.
  auto late = s.get(recording_path(laml_sim::normal_sid(661), "wav"));
  CHECK(late.status == 0);
  auto r = download.get();
  CHECK(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body == expected_body(sid, "wav"));
  CHECK(s.wait_gateway_exit(std::chrono::seconds(10)) == 0);
}

TEST_CASE("SIGHUP reloads the TLS certificates: new connections get the new one") {
  auto dir = fs::temp_directory_path() / ("recgate-certs-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto cert = dir / "server.pem";
  fs::copy_file(pki().localhost, cert, fs::copy_options::overwrite_existing);
  stack_options o;
  o.tls = true;
  o.extra_config = "[tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"" + cert.string() +
                   "\"\nkey_file = \"" + pki().key.string() + "\"\n";
  stack s(o);
  auto path = recording_path(laml_sim::normal_sid(670), "wav");
  std::vector<std::string> key{std::string("Authorization: Bearer ") + consumer_key};
  CHECK(curl_https(s.tls_port(), path, "", key).status == 200);
  // A certificate file that cannot be loaded is rejected; the one in use stays.
  std::ofstream(cert) << "not a certificate";
  s.signal_gateway(SIGHUP);
  REQUIRE(s.wait_gateway_output("new configuration rejected"));
  CHECK(curl_https(s.tls_port(), path, "", key).status == 200);
  // The new certificate names other.example only: curl, asking for 127.0.0.1, refuses it.
  fs::copy_file(pki().other, cert, fs::copy_options::overwrite_existing);
  s.signal_gateway(SIGHUP);
  bool reloaded = s.wait_gateway_output("TLS certificates");
  if (!reloaded)
    for (const auto& l : s.gateway_lines()) MESSAGE(l);
  REQUIRE(reloaded);
  CHECK(curl_https(s.tls_port(), path, "", key).status == 0);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
