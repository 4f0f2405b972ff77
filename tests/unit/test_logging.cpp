#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>

#include "proxy/telemetry/logging.hpp"

using recgate::logging::access_record;
using recgate::logging::format_access;

TEST_CASE("access lines carry every field, in text and JSON") {
  access_record r;
  r.request_id = "req1";
  r.client = "127.0.0.1";
  r.consumer = "billing";
  r.key_id = "k1";
  r.decision = "allowed";
  r.method = "GET";
  r.path = "/a/b.wav";
  r.status = 200;
  r.bytes = 1234;
  r.upstream_status = 200;
  r.duration_ms = 1.5;
  auto text = format_access(r, false);
  for (auto part : {"request_id=req1", "client=127.0.0.1", "consumer=\"billing\"", "key=\"k1\"",
                    "decision=\"allowed\"", "method=\"GET\"", "path=\"/a/b.wav\"", "status=200",
                    "bytes=1234", "upstream_status=200", "duration_ms=1.500", "cache=-"}) {
    CAPTURE(part);
    CHECK(text.find(part) != std::string::npos);
  }
  auto j = nlohmann::json::parse("{" + format_access(r, true) + "}");
  CHECK(j["request_id"] == "req1");
  CHECK(j["consumer"] == "billing");
  CHECK(j["key"] == "k1");
  CHECK(j["decision"] == "allowed");
  CHECK(j["status"] == 200);
  CHECK(j["bytes"] == 1234);
  CHECK(j["upstream_status"] == 200);
  CHECK(j["cache"] == "-");
  CHECK(j["path"] == "/a/b.wav");
}

TEST_CASE("client bytes in a path cannot forge fields or lines") {
  access_record r;
  r.request_id = "id";
  r.client = "::1";
  r.consumer = "-";
  r.method = "GET";
  r.path = "/x\" status=200\n\x01";
  r.status = 404;
  auto text = format_access(r, false);
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find("path=\"/x\\\" status=200\\x0a\\x01\"") != std::string::npos);
  auto j = nlohmann::json::parse("{" + format_access(r, true) + "}");
  CHECK(j["path"] == "/x\" status=200\n\x01");
}

TEST_CASE("JSON access lines escape control bytes and replace invalid UTF-8") {
  access_record r;
  r.request_id = "id";
  r.path = "/caf\xc3\xa9/\xff\x7f\t";
  auto j = nlohmann::json::parse("{" + format_access(r, true) + "}");
  CHECK(j["path"] == "/caf\xc3\xa9/\xef\xbf\xbd\x7f\t");  // U+FFFD for the stray byte
  r.path = "/plain\x7f\x1f";
  auto text = format_access(r, true);
  CHECK(text.find(R"("path":"/plain\u007f\u001f")") != std::string::npos);
  CHECK(nlohmann::json::parse("{" + text + "}")["path"] == "/plain\x7f\x1f");
}

TEST_CASE("durations are milliseconds with three decimals; escapes amid plain runs keep both") {
  access_record r;
  r.request_id = "id";
  for (auto [ms, shown] :
       {std::pair{0.0, "0.000"}, std::pair{0.0004, "0.000"}, std::pair{12.3456, "12.346"},
        std::pair{1000.5, "1000.500"}, std::pair{-1.0, "0.000"}}) {
    CAPTURE(ms);
    r.duration_ms = ms;
    CHECK(format_access(r, false).find(std::string("duration_ms=") + shown + " ") !=
          std::string::npos);
    auto j = nlohmann::json::parse("{" + format_access(r, true) + "}");
    CHECK(j["duration_ms"].get<double>() == doctest::Approx(std::stod(shown)));
  }
  r.path =
      "/ab\"cd\x01"
      "ef";
  CHECK(format_access(r, false).find(R"(path="/ab\"cd\x01ef")") != std::string::npos);
  CHECK(format_access(r, true).find(R"("path":"/ab\"cd\u0001ef")") != std::string::npos);
}

// Access lines skip spdlog's pattern formatter (they go straight into their batch): their prefix
// must still be what the pattern writes before every other line, in text and JSON, whatever
// the time zone and the millisecond.
TEST_CASE("an access line's prefix is the loggers' pattern, to the millisecond") {
  using namespace std::chrono;
  const char* saved = std::getenv("TZ");
  const std::string saved_tz = saved != nullptr ? saved : "";
  for (const char* zone : {"UTC0", "EST5EDT", "IST-5:30"}) {
    setenv("TZ", zone, 1);
    tzset();
    for (auto at : {sys_days{year{2026} / 12 / 7} + hours(6) + minutes(27) + milliseconds(5),
                    sys_days{year{2026} / 7 / 1} + hours(23) + seconds(59) + milliseconds(999),
                    sys_days{year{2027} / 1 / 1} + milliseconds(0)}) {
      for (bool json : {false, true}) {
        spdlog::pattern_formatter pattern(json ? recgate::logging::json_pattern
                                               : recgate::logging::text_pattern);
        spdlog::details::log_msg msg("access", spdlog::level::info, "");
        msg.time = time_point_cast<system_clock::duration>(at);
        spdlog::memory_buf_t written;
        pattern.format(msg, written);
        std::string expected(written.data(), written.size());
        // The pattern's line for an empty message: the prefix, then (JSON) the closing brace
        // and the end of line.
        expected = expected.substr(0, expected.size() - std::string(json ? "}" : "").size() -
                                          std::string(spdlog::details::os::default_eol).size());
        CAPTURE(zone);
        CAPTURE(json);
        CHECK(recgate::logging::access_prefix(time_point_cast<system_clock::duration>(at), json) ==
              expected);
      }
    }
  }
  if (saved != nullptr)
    setenv("TZ", saved_tz.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
}
