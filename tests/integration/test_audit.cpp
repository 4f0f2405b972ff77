// The audit trail end to end: recgate appends one JSON line per recording access to
// audit.file; `recgate audit` (run as a child process) finds them by Sid and by consumer.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include "artifacts.hpp"
#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"
#include "temp_dir.hpp"

using namespace gateway_test;
using nlohmann::json;

namespace {

constexpr const char* player_key = "rgk_audit-player-key-0b7d5e21c4";
constexpr const char* limited_key = "rgk_audit-limited-key-f3a9c8e102";
constexpr const char* portal_key = "rgk_audit-portal-key-6e41d2b7a9";
constexpr const char* signing_env = "RECGATE_TEST_AUDIT_SIGNING_SECRET";
constexpr const char* signing_secret = "audit-test-signing-secret-4f0c9b2e7d1a8356";

stack_options audited(const std::filesystem::path& file, const std::string& flush = "50ms") {
  ::setenv(signing_env, signing_secret, 1);
  test_support::artifacts::add_secret(signing_secret);
  stack_options o;
  o.cache = true;
  o.extra_config = "[audit]\nfile = \"" + file.string() + "\"\nflush_interval = \"" + flush +
                   "\"\n[[signing_keys]]\nid = \"k1\"\nsecret_env = \"" + signing_env + "\"\n";
  o.extra_consumers =
      "[[consumers]]\nid = \"player\"\nscopes = [\"audio\"]\naccounts = [\"" +
      std::string(project_id) + "\"]\nkey_sha256 = \"" + sha256_hex(player_key) + "\"\n" +
      "[[consumers]]\nid = \"limited\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
      "rate_per_second = 0.001\nburst = 1\nkey_sha256 = \"" +
      sha256_hex(limited_key) + "\"\n" +
      "[[consumers]]\nid = \"portal\"\nscopes = [\"sign\"]\naccounts = [\"*\"]\nkey_sha256 = \"" +
      sha256_hex(portal_key) + "\"\n";
  return o;
}

headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

std::vector<json> read_lines(const std::filesystem::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

// Waits until the audit file holds n lines (they are flushed every flush_interval).
std::vector<json> wait_lines(const std::filesystem::path& file, std::size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto lines = read_lines(file);
  while (lines.size() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lines = read_lines(file);
  }
  REQUIRE(lines.size() == n);
  return lines;
}

std::string file_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct cli_result {
  std::vector<json> lines;  // the JSON lines printed
  std::string summary;      // the "recgate audit: ..." line
  int exit_code = -1;
};

cli_result run_audit(std::vector<std::string> args) {
  args.insert(args.begin(), {RECGATE_BIN, "audit"});
  test_support::child_process cli(args);
  cli_result out;
  out.exit_code = cli.wait_exit(std::chrono::seconds(10)).value_or(-1);
  for (const auto& line : cli.lines()) {
    if (line.starts_with("{"))
      out.lines.push_back(json::parse(line));
    else if (line.starts_with("recgate audit:"))
      out.summary = line;
  }
  return out;
}

}  // namespace

TEST_CASE("every recording access is audited: who, what, how much, from where") {
  test_support::temp_dir tmp("recgate-audit-");
  auto file = tmp.path / "audit.jsonl";
  stack s(audited(file));
  auto sid = laml_sim::normal_sid(901);

  auto wav = s.get(recording_path(sid, "wav"));
  REQUIRE(wav.status == 200);
  auto lines = wait_lines(file, 1);
  const auto& a = lines[0];
  CHECK(a["consumer"] == "billing-service");
  CHECK(a["key_id"] == "default");
  CHECK(a["account_sid"] == project_id);
  CHECK(a["recording_sid"] == sid);
  CHECK(a["format"] == "wav");
  CHECK(a["method"] == "GET");
  CHECK(a["status"] == 200);
  CHECK(a["bytes"] == wav.body.size());
  CHECK(a["client"] == "127.0.0.1");
  CHECK(a["request_id"] == *wav.header("X-Request-Id"));
  CHECK_FALSE(a.contains("range"));
  auto when = a["time"].get<std::string>();
  CHECK(when.size() == 24);
  CHECK(when.back() == 'Z');
  CHECK(when[10] == 'T');

  auto part = s.get(recording_path(sid, "mp3"), with_key({{"Range", "bytes=0-99"}}));
  REQUIRE(part.status == 206);
  auto meta = s.get(recording_path(sid, "json"));
  REQUIRE(meta.status == 200);
  auto head = s.get(recording_path(sid, "wav"), with_key(), "HEAD");
  REQUIRE(head.status == 200);
  lines = wait_lines(file, 4);
  CHECK(lines[1]["format"] == "mp3");
  CHECK(lines[1]["status"] == 206);
  CHECK(lines[1]["bytes"] == 100);
  CHECK(lines[1]["range"] == "bytes=0-99");
  CHECK(lines[2]["format"] == "json");
  CHECK(lines[2]["bytes"] == meta.body.size());
  CHECK(lines[3]["method"] == "HEAD");
  CHECK(lines[3]["bytes"] == 0);

  SUBCASE("denied requests are audited with their status") {
    CHECK(s.get(recording_path(sid, "wav"), {}).status == 401);
    CHECK(s.get(recording_path(sid, "wav"), bearer("rgk_not-a-key")).status == 401);
    auto forbidden = s.get(recording_path(sid, "json"), bearer(player_key));
    CHECK(forbidden.status == 403);
    CHECK(s.get(recording_path(sid, "wav"), bearer(limited_key)).status == 200);
    CHECK(s.get(recording_path(sid, "wav"), bearer(limited_key)).status == 429);
    lines = wait_lines(file, 9);
    CHECK(lines[4]["status"] == 401);
    CHECK(lines[4]["consumer"] == "-");
    CHECK(lines[4]["recording_sid"] == sid);
    CHECK(lines[5]["status"] == 401);
    CHECK(lines[5]["decision"] == "unknown key");
    CHECK(lines[6]["status"] == 403);
    CHECK(lines[6]["consumer"] == "player");
    CHECK(lines[6]["format"] == "json");
    CHECK(lines[6]["bytes"] == forbidden.body.size());  // the JSON error body
    CHECK(lines[7]["consumer"] == "limited");
    CHECK(lines[7]["status"] == 200);
    CHECK(lines[8]["status"] == 429);
    CHECK(lines[8]["consumer"] == "limited");
  }
  SUBCASE("a signed URL is audited as its issuer with the signing key's id") {
    json ask{{"path", recording_path(sid, "mp3")}, {"ttl", "5m"}};
    auto minted = test_support::request("127.0.0.1", s.gateway_port(), "POST", "/v1/signed-urls",
                                        {{"Authorization", std::string("Bearer ") + portal_key},
                                         {"Content-Type", "application/json"}},
                                        ask.dump());
    REQUIRE(minted.status == 201);
    auto url = json::parse(minted.body)["url"].get<std::string>();
    auto target = url.substr(url.find("/api/"));
    auto played = s.get(target, {});
    REQUIRE(played.status == 200);
    auto tampered = target;
    auto& c = tampered[tampered.size() - 10];  // inside rg_sig, the last parameter
    c = c == 'A' ? 'B' : 'A';
    CHECK(s.get(tampered, {}).status == 403);
    lines = wait_lines(file, 6);  // minting is not a recording access
    CHECK(lines[4]["consumer"] == "portal");
    CHECK(lines[4]["key_id"] == "signed:k1");
    CHECK(lines[4]["bytes"] == played.body.size());
    CHECK(lines[5]["status"] == 403);
    CHECK(lines[5]["decision"] == "bad signature");
    // The signed URL's query is a bearer credential: it is not in the audit file.
    CHECK(file_text(file).find("rg_sig") == std::string::npos);
  }

  // No secret reaches the audit file, and only its owner may read it.
  auto text = file_text(file);
  for (const char* secret :
       {consumer_key, api_token, player_key, limited_key, portal_key, signing_secret}) {
    CHECK(text.find(secret) == std::string::npos);
  }
  CHECK(text.find("Bearer") == std::string::npos);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("recgate audit finds the lines by --sid and by --consumer, and no others") {
  test_support::temp_dir tmp("recgate-audit-");
  auto file = tmp.path / "audit.jsonl";
  stack s(audited(file));
  auto one = laml_sim::normal_sid(911);
  auto two = laml_sim::normal_sid(912);
  std::uint64_t billing_bytes = 0;
  for (const auto& sid : {one, two, one}) {
    auto r = s.get(recording_path(sid, "wav"));
    REQUIRE(r.status == 200);
    billing_bytes += r.body.size();
  }
  auto played = s.get(recording_path(two, "mp3"), bearer(player_key));
  REQUIRE(played.status == 200);
  CHECK(s.get(recording_path(one, "json"), bearer(player_key)).status == 403);
  wait_lines(file, 5);

  SUBCASE("--sid, through --config") {
    auto found = run_audit({"--config", s.config_path().string(), "--sid", one});
    CHECK(found.exit_code == 0);
    REQUIRE(found.lines.size() == 3);
    for (const auto& line : found.lines) CHECK(line["recording_sid"] == one);
    CHECK(found.lines[2]["consumer"] == "player");
    CHECK(found.lines[2]["status"] == 403);
    std::uint64_t one_bytes = 0;
    for (const auto& line : found.lines) one_bytes += line["bytes"].get<std::uint64_t>();
    CHECK(found.summary == "recgate audit: 3 accesses, " + std::to_string(one_bytes) + " bytes");
    // Any case of the Sid.
    auto upper = one;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(run_audit({"--file", file.string(), "--sid", upper}).lines.size() == 3);
  }
  SUBCASE("--consumer, through --file") {
    auto billing = run_audit({"--file", file.string(), "--consumer", "billing-service"});
    CHECK(billing.exit_code == 0);
    REQUIRE(billing.lines.size() == 3);
    for (const auto& line : billing.lines) CHECK(line["consumer"] == "billing-service");
    CHECK(billing.summary ==
          "recgate audit: 3 accesses, " + std::to_string(billing_bytes) + " bytes");
    auto player = run_audit({"--file", file.string(), "--consumer", "player", "--sid", two});
    REQUIRE(player.lines.size() == 1);
    CHECK(player.lines[0]["format"] == "mp3");
    CHECK(player.lines[0]["bytes"] == played.body.size());
    CHECK(run_audit({"--file", file.string(), "--consumer", "nobody"}).lines.empty());
  }
  SUBCASE("--since and --until") {
    auto all = run_audit({"--file", file.string(), "--since", "2000-01-01T00:00:00Z"});
    CHECK(all.lines.size() == 5);
    CHECK(
        run_audit({"--file", file.string(), "--since", "2999-01-01T00:00:00+02:00"}).lines.empty());
    CHECK(run_audit({"--file", file.string(), "--until", "2000-01-01T00:00:00Z"}).lines.empty());
    auto bad = run_audit({"--file", file.string(), "--since", "yesterday"});
    CHECK(bad.exit_code == 2);
  }
}

TEST_CASE("the audit file is written in batches, flushed at shutdown, and reopened on SIGHUP") {
  test_support::temp_dir tmp("recgate-audit-");
  auto file = tmp.path / "audit.jsonl";
  SUBCASE("flushed on shutdown, not per request") {
    stack s(audited(file, "1h"));
    auto sid = laml_sim::normal_sid(921);
    REQUIRE(s.get(recording_path(sid, "wav")).status == 200);
    REQUIRE(s.get(recording_path(sid, "wav")).status == 200);
    CHECK(read_lines(file).empty());  // buffered: nothing written per request
    s.signal_gateway(SIGTERM);
    CHECK(s.wait_gateway_exit(std::chrono::seconds(10)) == 0);
    CHECK(read_lines(file).size() == 2);
  }
  SUBCASE("logrotate: the file moved away, SIGHUP, new lines in a new file") {
    stack s(audited(file));
    auto sid = laml_sim::normal_sid(922);
    REQUIRE(s.get(recording_path(sid, "wav")).status == 200);
    wait_lines(file, 1);
    auto rotated = tmp.path / "audit.jsonl.1";
    std::filesystem::rename(file, rotated);
    s.signal_gateway(SIGHUP);
    REQUIRE(s.wait_gateway_output("audit file reopened"));
    REQUIRE(s.get(recording_path(sid, "mp3")).status == 200);
    auto fresh = wait_lines(file, 1);
    CHECK(fresh[0]["format"] == "mp3");
    CHECK(read_lines(rotated).size() == 1);
    // Both files at once, as after a rotation.
    auto both = run_audit({"--file", rotated.string(), "--file", file.string(), "--sid", sid});
    CHECK(both.lines.size() == 2);
  }
}
