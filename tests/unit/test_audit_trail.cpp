// The audit trail without a gateway: the line format, times, the query, the file.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "config/load.hpp"
#include "proxy/telemetry/audit_log.hpp"
#include "proxy/telemetry/audit_query.hpp"
#include "tests/support/temp_dir.hpp"

using namespace recgate;
using nlohmann::json;

namespace {

audit_record sample(std::string sid = "5e5e0001-0000-4000-8000-000000000001",
                    std::string consumer = "billing", std::uint64_t bytes = 16044) {
  audit_record r;
  r.consumer = std::move(consumer);
  r.key_id = "default";
  r.account_sid = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
  r.recording_sid = std::move(sid);
  r.format = "wav";
  r.method = "GET";
  r.status = 200;
  r.bytes = bytes;
  r.client = "10.1.2.3";
  r.request_id = "abc";
  r.decision = "allowed";
  return r;
}

std::chrono::system_clock::time_point at_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// An audit file's path in a fresh folder (not created: the trail creates it).
struct temp_file {
  test_support::temp_dir dir{"recgate-audit-unit-"};
  std::filesystem::path path = dir.path / "audit.jsonl";
};

}  // namespace

TEST_CASE("an audit line: every field, RFC 3339 UTC time, one line") {
  auto r = sample();
  r.range = "bytes=0-99";
  auto line = format_audit_line(r, at_ms(1714990811123));  // 2024-05-06T10:20:11.123Z
  REQUIRE(line.ends_with("\n"));
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
  auto j = json::parse(line);
  CHECK(j["time"] == "2024-05-06T10:20:11.123Z");
  CHECK(j["consumer"] == "billing");
  CHECK(j["key_id"] == "default");
  CHECK(j["account_sid"] == "720796a0-8ee9-4350-83bd-2d07a3121f1e");
  CHECK(j["recording_sid"] == "5e5e0001-0000-4000-8000-000000000001");
  CHECK(j["format"] == "wav");
  CHECK(j["method"] == "GET");
  CHECK(j["status"] == 200);
  CHECK(j["bytes"] == 16044);
  CHECK(j["range"] == "bytes=0-99");
  CHECK(j["client"] == "10.1.2.3");
  CHECK(j["request_id"] == "abc");
  CHECK(j["decision"] == "allowed");
  CHECK_FALSE(json::parse(format_audit_line(sample(), at_ms(0))).contains("range"));
  // A client's odd bytes cannot break the line.
  auto odd = sample();
  odd.range = "bytes=\n\xff";
  auto odd_line = format_audit_line(odd, at_ms(0));
  CHECK(std::count(odd_line.begin(), odd_line.end(), '\n') == 1);
  CHECK_FALSE(json::parse(odd_line, nullptr, false).is_discarded());
}

TEST_CASE("parse_rfc3339") {
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339("2024-05-06T10:20:11.123Z") == 1714990811123);
  CHECK(parse_rfc3339("2024-05-06T12:20:11.123+02:00") == 1714990811123);
  CHECK(parse_rfc3339("2024-05-06t10:20:11.1234567z") == 1714990811123);
  CHECK(parse_rfc3339("2024-02-29T00:00:00-00:30") == 1709166600000);
  CHECK(parse_rfc3339(rfc3339_utc(at_ms(1714990811123))) == 1714990811123);
  for (auto bad : {"", "2024-05-06", "2024-05-06T10:20:11", "2024-13-01T00:00:00Z",
                   "2024-05-06 10:20:11Z", "2024-05-06T10:20:11.Z", "2024-05-06T10:20:11+2:00",
                   "2024-05-06T10:20:11Zjunk", "yesterday"}) {
    CHECK_MESSAGE(!parse_rfc3339(bad), bad);
  }
}

TEST_CASE("query_audit: by Sid, consumer and time; malformed lines are skipped") {
  std::string sid_a = "5e5e0001-0000-4000-8000-00000000000a";
  std::string sid_b = "5e5e0001-0000-4000-8000-00000000000b";
  std::string text = format_audit_line(sample(sid_a, "billing", 100), at_ms(1000)) +
                     format_audit_line(sample(sid_b, "billing", 200), at_ms(2000)) +
                     "not json\n{\"truncated\n\n" +
                     format_audit_line(sample(sid_a, "player", 400), at_ms(3000));
  auto run = [&](const audit_filter& f, audit_summary& s) {
    std::istringstream in(text);
    std::ostringstream out;
    query_audit(in, f, out, s);
    return out.str();
  };
  audit_summary all;
  auto everything = run({}, all);
  CHECK(all.lines == 3);
  CHECK(all.bytes == 700);
  CHECK(all.malformed == 2);
  CHECK(std::count(everything.begin(), everything.end(), '\n') == 3);

  audit_summary by_sid;
  auto found = run({sid_a, "", {}, {}}, by_sid);
  CHECK(by_sid.lines == 2);
  CHECK(by_sid.bytes == 500);
  CHECK(found.find(sid_b) == std::string::npos);

  audit_summary by_consumer;
  run({"", "player", {}, {}}, by_consumer);
  CHECK(by_consumer.lines == 1);
  CHECK(by_consumer.bytes == 400);

  audit_summary window;
  run({"", "billing", 1000, 2000}, window);  // since inclusive, until exclusive
  CHECK(window.lines == 1);
  CHECK(window.bytes == 100);
}

TEST_CASE("audit_log: appends whole lines to a 0600 file, buffered, reopened after a move") {
  temp_file tmp;
  { std::ofstream(tmp.path) << "{\"earlier\":true}\n"; }
  std::filesystem::permissions(
      tmp.path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  config::audit_config cfg;
  cfg.file = tmp.path.string();
  cfg.flush_interval = std::chrono::hours(1);
  auto opened = audit_log::open(cfg);
  REQUIRE_MESSAGE(opened.ok(), opened.error());
  auto log = std::move(*opened);
  log->append(sample());
  log->append(sample());
  CHECK(read_all(tmp.path) == "{\"earlier\":true}\n");  // buffered, not written per line
  log->flush();
  CHECK(log->lines_written() == 2);
  auto text = read_all(tmp.path);
  CHECK(text.starts_with("{\"earlier\":true}\n"));  // appended, never truncated
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);

  auto rotated = tmp.dir.path / "audit.jsonl.1";
  std::filesystem::rename(tmp.path, rotated);
  log->append(sample("5e5e0001-0000-4000-8000-0000000000ff"));
  REQUIRE(log->reopen().ok());
  log->append(sample("5e5e0001-0000-4000-8000-0000000000ee"));
  log.reset();  // flushes
  auto old_text = read_all(rotated);
  CHECK(std::count(old_text.begin(), old_text.end(), '\n') == 4);  // the line before reopen
  CHECK(old_text.find("0000000000ff") != std::string::npos);
  auto fresh = read_all(tmp.path);
  CHECK(std::count(fresh.begin(), fresh.end(), '\n') == 1);
  CHECK(fresh.find("0000000000ee") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat(tmp.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // created by the log

  SUBCASE("an unusable path is an error at open") {
    config::audit_config nowhere;
    nowhere.file = (tmp.dir.path / "missing" / "audit.jsonl").string();
    auto refused = audit_log::open(nowhere);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().find("missing") != std::string::npos);
  }
}

TEST_CASE("audit_log: lines reach the file within flush_interval") {
  temp_file tmp;
  config::audit_config cfg;
  cfg.file = tmp.path.string();
  cfg.flush_interval = std::chrono::milliseconds(20);
  auto opened = audit_log::open(cfg);
  REQUIRE(opened.ok());
  auto log = std::move(*opened);
  log->append(sample());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (log->lines_written() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(log->lines_written() == 1);
  CHECK(read_all(tmp.path).find("billing") != std::string::npos);
}

TEST_CASE("[audit] configuration") {
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "SIGNALWIRE_API_TOKEN") return "PT";
    return std::nullopt;
  };
  std::string base =
      "[upstream]\nbase_url = \"https://example.signalwire.com\"\nproject_id = \"proj\"\n"
      "[[consumers]]\nid = \"a\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\nkey_sha256 = \"" +
      std::string(64, 'a') + "\"\n";
  auto off = config::load_from_string(base, "t", env);
  REQUIRE(off.ok());
  CHECK_FALSE(off->audit.enabled());
  auto on = config::load_from_string(base + "[audit]\nfile = \"/var/lib/recgate/audit.jsonl\"\n",
                                     "t", env);
  REQUIRE(on.ok());
  CHECK(on->audit.file == "/var/lib/recgate/audit.jsonl");
  CHECK(on->audit.flush_interval == std::chrono::seconds(1));
  CHECK_FALSE(config::load_from_string(base + "[audit]\nflush_interval = \"2s\"\n", "t", env).ok());
  CHECK_FALSE(
      config::load_from_string(base + "[audit]\nfile = \"f\"\nflush_interval = 0\n", "t", env)
          .ok());
  CHECK_FALSE(
      config::load_from_string(base + "[audit]\nfile = \"f\"\nrotate = true\n", "t", env).ok());
}
