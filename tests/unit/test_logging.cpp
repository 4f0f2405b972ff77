#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

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
