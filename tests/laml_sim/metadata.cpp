#include "metadata.hpp"

#include <array>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "audio.hpp"
#include "sid_modes.hpp"

namespace laml_sim {
namespace {

constexpr std::int64_t start_of_2024 = 1704067200;
constexpr std::int64_t two_years = 2 * 365 * 86400;

// Howard Hinnant's civil_from_days: proleptic Gregorian date of a day count since 1970-01-01.
void civil_from_days(std::int64_t days, int& year, unsigned& month, unsigned& day) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0));
}

std::string call_sid_for(std::uint64_t seed) {
  const std::uint64_t hi = splitmix64(seed ^ 0xca11ca11ca11ca11ULL);
  const std::uint64_t lo = splitmix64(seed ^ 0x5151515151515151ULL);
  std::array<char, 33> hex{};
  std::snprintf(hex.data(), hex.size(), "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  hex[12] = '4';                                      // version 4
  hex[16] = "89ab"[static_cast<unsigned>(lo >> 62)];  // RFC 4122 variant
  const std::string h(hex.data(), 32);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

// SignalWire bills per started minute; "-0.0025" per minute, four decimals.
std::string price_for(std::uint32_t duration) {
  const std::uint64_t minutes = duration == 0 ? 1 : (duration + 59ULL) / 60;
  const std::uint64_t ten_thousandths = 25 * minutes;
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "-%llu.%04llu",
                static_cast<unsigned long long>(ten_thousandths / 10000),
                static_cast<unsigned long long>(ten_thousandths % 10000));
  return std::string(buf.data());
}

}  // namespace

std::string rfc2822_date(std::int64_t unix_seconds) {
  static constexpr std::array<const char*, 7> weekdays{"Thu", "Fri", "Sat", "Sun",
                                                       "Mon", "Tue", "Wed"};
  static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::int64_t days = unix_seconds / 86400;
  std::int64_t rest = unix_seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  int year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  // 1970-01-01 was a Thursday.
  const auto weekday = static_cast<std::size_t>(((days % 7) + 7) % 7);
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%s, %02u %s %04d %02d:%02d:%02d +0000", weekdays[weekday],
                day, months[month - 1], year, static_cast<int>(rest / 3600),
                static_cast<int>(rest / 60 % 60), static_cast<int>(rest % 60));
  return std::string(buf.data());
}

std::string metadata_json(std::string_view sid, std::string_view project_id,
                          std::uint32_t default_duration) {
  const std::string sid_lower = to_lower(sid);
  const std::string account = to_lower(project_id);
  const std::uint64_t seed = sid_seed(sid_lower);
  const std::uint32_t duration = duration_seconds(sid_lower, default_duration);
  const std::int64_t start =
      start_of_2024 + static_cast<std::int64_t>(splitmix64(seed ^ 0xda7eda7eULL) %
                                                static_cast<std::uint64_t>(two_years - 86400));
  const std::int64_t end = start + duration;
  const std::string base = "/api/laml/2010-04-01/Accounts/" + account + "/Recordings/" + sid_lower;

  // nlohmann::ordered_json keeps SignalWire's field order, which makes diffs readable.
  nlohmann::ordered_json j;
  j["sid"] = sid_lower;
  j["account_sid"] = account;
  j["api_version"] = "2010-04-01";
  j["call_sid"] = call_sid_for(seed);
  j["conference_sid"] = nullptr;
  j["channel"] = "1";
  j["channels"] = "1";
  j["date_created"] = rfc2822_date(start);
  j["date_updated"] = rfc2822_date(end + 1);
  j["start_time"] = rfc2822_date(start);
  j["end_time"] = rfc2822_date(end);
  j["duration"] = duration;
  j["price"] = price_for(duration);
  j["price_unit"] = "USD";
  j["source"] = "DialVerb";
  j["status"] = "completed";
  j["error_code"] = nullptr;
  j["uri"] = base + ".json";
  j["subresource_uris"] = {{"transcriptions", base + "/Transcriptions.json"}};
  j["encryption_details"] = nullptr;
  j["trim"] = "do-not-trim";
  return j.dump();
}

}  // namespace laml_sim
