#include "proxy/http/request_rules.hpp"

#include <algorithm>
#include <array>
#include <random>

#include <nlohmann/json.hpp>

#include "config/load.hpp"

namespace recgate {

std::string request_id_for(std::string_view offered) {
  bool usable = !offered.empty() && offered.size() <= 64;
  for (char c : offered) {
    usable = usable && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                        (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.');
  }
  if (usable) return std::string(offered);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string id(16, '0');
  auto v = rng();
  for (auto& c : id) {
    c = digits[v & 0xf];
    v >>= 4;
  }
  return id;
}

bool valid_host(std::size_t count, std::string_view value, bool http11) {
  if (count > 1 || (count == 0 && http11)) return false;
  // RFC 3986's reg-name, IP literal and port characters; a table rather than find_first_not_of,
  // which searches the set once per character.
  static constexpr auto allowed = [] {
    std::array<bool, 256> t{};
    for (unsigned char c :
         std::string_view("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          "-._~!$&'()*+,;=:[]%"))
      t[c] = true;
    return t;
  }();
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return allowed[static_cast<unsigned char>(c)]; });
}

std::string grant_cookie(const access_decision& d, std::string_view sid, std::int64_t now,
                         bool secure) {
  auto max_age = std::max<std::int64_t>(0, d.grant_expires - now);
  return grant_cookie_name(sid) + "=" + d.grant_query + "; Max-Age=" + std::to_string(max_age) +
         "; Path=/; HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "");
}

result<signing_request> read_signing_body(const std::string& text) {
  auto body = nlohmann::json::parse(text, nullptr, false);
  if (!body.is_object() || !body.contains("path") || !body["path"].is_string()) {
    return fail("The body must be JSON with a \"path\"");
  }
  signing_request ask;
  ask.path = body["path"].get<std::string>();
  if (body.contains("ttl")) {
    auto ttl = body["ttl"].is_string() ? config::parse_duration(body["ttl"].get<std::string>())
                                       : std::nullopt;
    if (!ttl) return fail("ttl must be a duration such as \"10m\"");
    ask.ttl = *ttl;
  }
  if (body.contains("client")) {
    if (!body["client"].is_string()) return fail("client must be an IP address");
    ask.client = body["client"].get<std::string>();
  }
  if (body.contains("bind_format")) {
    if (!body["bind_format"].is_boolean()) return fail("bind_format must be true or false");
    ask.bind_format = body["bind_format"].get<bool>();
  }
  return ask;
}

denial denial_for(const access_decision& d) {
  denial answer;
  switch (d.outcome) {
    case access_outcome::forbidden:
      answer.status = 403;
      answer.message = "This key may not do this";
      break;
    case access_outcome::rate_limited:
      answer.status = 429;
      answer.message = "Too many requests: slow down";
      answer.headers.emplace_back("Retry-After",
                                  std::to_string(std::max<long>(1, d.retry_after.count())));
      break;
    default:  // unauthenticated (allow is not a denial: answered as one, it still asks for a key)
      answer.status = 401;
      answer.message = "Authentication required: send a gateway key";
      answer.headers.emplace_back("WWW-Authenticate",
                                  "Bearer realm=\"recgate\", Basic realm=\"recgate\"");
      break;
  }
  return answer;
}

}  // namespace recgate
