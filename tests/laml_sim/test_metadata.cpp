#include <regex>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "laml_sim/error_body.hpp"
#include "laml_sim/laml_sim.hpp"

using namespace laml_sim;
using nlohmann::json;

namespace {

const std::regex rfc2822(R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d )"
                         R"((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) )"
                         R"(20(24|25) \d\d:\d\d:\d\d \+0000)");

// Seconds since the epoch of an RFC 2822 date as rfc2822_date writes it.
std::int64_t parse_date(const std::string& s) {
  static const std::array<std::string, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int day = std::stoi(s.substr(5, 2));
  const auto month =
      static_cast<int>(std::find(months.begin(), months.end(), s.substr(8, 3)) - months.begin()) +
      1;
  const int year = std::stoi(s.substr(12, 4));
  // days_from_civil (Howard Hinnant).
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + std::stoi(s.substr(17, 2)) * 3600 + std::stoi(s.substr(20, 2)) * 60 +
         std::stoi(s.substr(23, 2));
}

}  // namespace

TEST_CASE("rfc 2822 dates") {
  CHECK(rfc2822_date(1715016011) == "Mon, 06 May 2024 17:20:11 +0000");
  CHECK(rfc2822_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(rfc2822_date(951782400) == "Tue, 29 Feb 2000 00:00:00 +0000");
  CHECK(rfc2822_date(1767225599) == "Wed, 31 Dec 2025 23:59:59 +0000");
  CHECK(parse_date(rfc2822_date(1715016011)) == 1715016011);
}

TEST_CASE("metadata has every spec field with SignalWire's types") {
  const std::string sid = "19E436AF-5688-4307-B03B-BDB2B42B8142";
  const std::string project = "720796A0-8EE9-4350-83BD-2D07A3121F1E";
  const std::string text = metadata_json(sid, project, 4);
  CHECK(text == metadata_json(sid, project, 4));  // deterministic
  const json j = json::parse(text);
  const std::string base =
      "/api/laml/2010-04-01/Accounts/720796a0-8ee9-4350-83bd-2d07a3121f1e"
      "/Recordings/19e436af-5688-4307-b03b-bdb2b42b8142";

  CHECK(j.size() == 21);
  CHECK(j.at("sid") == "19e436af-5688-4307-b03b-bdb2b42b8142");
  CHECK(j.at("account_sid") == "720796a0-8ee9-4350-83bd-2d07a3121f1e");
  CHECK(j.at("api_version") == "2010-04-01");
  REQUIRE(j.at("call_sid").is_string());
  const std::string call = j.at("call_sid");
  CHECK(is_uuid(call));
  CHECK(call[14] == '4');
  CHECK(std::string("89ab").find(call[19]) != std::string::npos);
  CHECK(j.at("conference_sid").is_null());
  CHECK(j.at("channel") == "1");
  CHECK(j.at("channels") == "1");
  for (const char* field : {"date_created", "date_updated", "start_time", "end_time"}) {
    CAPTURE(field);
    REQUIRE(j.at(field).is_string());
    CHECK(std::regex_match(j.at(field).get<std::string>(), rfc2822));
  }
  CHECK(parse_date(j.at("end_time")) - parse_date(j.at("start_time")) == 4);
  CHECK(j.at("date_created") == j.at("start_time"));
  CHECK(parse_date(j.at("date_updated")) >= parse_date(j.at("end_time")));
  CHECK(j.at("duration").is_number_integer());
  CHECK(j.at("duration") == 4);
  CHECK(j.at("price") == "-0.0025");
  CHECK(j.at("price_unit") == "USD");
  CHECK(j.at("source") == "DialVerb");
  CHECK(j.at("status") == "completed");
  CHECK(j.at("error_code").is_null());
  CHECK(j.at("uri") == base + ".json");
  CHECK(j.at("subresource_uris") == json{{"transcriptions", base + "/Transcriptions.json"}});
  CHECK(j.at("encryption_details").is_null());
  CHECK(j.at("trim") == "do-not-trim");
}

TEST_CASE("metadata duration follows the sid mode; sids differ") {
  const json sized = json::parse(metadata_json(sized_sid(1, 44 + 16000 * 125), "p", 10));
  CHECK(sized.at("duration") == 125);
  CHECK(sized.at("price") == "-0.0075");  // three started minutes
  const json a = json::parse(metadata_json(normal_sid(1), "p", 10));
  const json b = json::parse(metadata_json(normal_sid(2), "p", 10));
  CHECK(a.at("duration") == 10);
  CHECK(a.at("call_sid") != b.at("call_sid"));
  CHECK(a.at("start_time") != b.at("start_time"));
}

TEST_CASE("error bodies") {
  CHECK(
      not_found_json("/2010-04-01/Accounts/a/Recordings/b.json") ==
      R"({"code":20404,"message":"The requested resource /2010-04-01/Accounts/a/Recordings/b.json)"
      R"( was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404})");
  const json unauthorized = json::parse(unauthorized_json());
  CHECK(unauthorized.at("code") == 20003);
  CHECK(unauthorized.at("message") == "Authenticate");
  CHECK(unauthorized.at("status") == 401);
  const json forced = json::parse(forced_status_json(503, "/x"));
  CHECK(forced.at("code") == 20503);
  CHECK(forced.at("status") == 503);
  CHECK(forced.at("more_info") == "https://www.twilio.com/docs/errors/20503");
}
