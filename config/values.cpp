// Parsers for single configuration values: durations, listen endpoints, upstream URLs.
#include <algorithm>
#include <charconv>
#include <cstring>

#include <arpa/inet.h>

#include "config/load.hpp"

namespace recgate::config {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == ':';
}

// Splits "host:port" or "[v6]:port"; `port` is empty when the text has none (the callers
// decide whether that is allowed).
bool split_host_port(std::string_view text, std::string& host, std::string_view& port) {
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    port = rest.empty() ? std::string_view{} : rest.substr(1);
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) return false;  // bare IPv6
    host = std::string(text.substr(0, colon));
    port = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  }
  if (host.empty()) return false;
  for (char c : host) {
    if (!is_host_char(c)) return false;
  }
  return true;
}

std::string join_host_port(const std::string& host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

std::string endpoint::to_string() const { return join_host_port(host, port); }

std::string base_url::authority() const {
  bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  if (default_port) return host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return join_host_port(host, port);
}

std::string base_url::to_string() const { return scheme + "://" + authority(); }

std::optional<duration> parse_duration(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  std::uint64_t ms_per_unit = 0;
  if (unit == "ms")
    ms_per_unit = 1;
  else if (unit == "s")
    ms_per_unit = 1000;
  else if (unit == "m")
    ms_per_unit = 60'000;
  else if (unit == "h")
    ms_per_unit = 3'600'000;
  else if (unit == "d")
    ms_per_unit = 86'400'000;
  else
    return std::nullopt;
  // Far beyond any sensible setting, and no overflow in milliseconds.
  if (value > (std::uint64_t(1) << 62) / ms_per_unit) return std::nullopt;
  return duration(static_cast<duration::rep>(value * ms_per_unit));
}

std::optional<endpoint> parse_endpoint(std::string_view text) {
  endpoint ep;
  std::string_view port;
  if (!split_host_port(text, ep.host, port)) return std::nullopt;
  auto p = parse_port(port);
  if (!p) return std::nullopt;
  ep.port = *p;
  return ep;
}

std::optional<base_url> parse_base_url(std::string_view text) {
  base_url url;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  url.scheme = std::string(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") return std::nullopt;
  auto rest = text.substr(sep + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (!split_host_port(rest, url.host, port)) return std::nullopt;
  if (port.empty()) {
    url.port = url.tls() ? 443 : 80;
  } else {
    auto p = parse_port(port);
    if (!p || *p == 0) return std::nullopt;
    url.port = *p;
  }
  return url;
}

std::optional<std::array<unsigned char, 16>> parse_ip(std::string_view text) {
  std::array<unsigned char, 16> out{};
  // inet_pton reads up to a NUL: "127.0.0.1\0junk" must not pass for 127.0.0.1.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::string s(text);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::optional<cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  unsigned max = v4 ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        prefix > max) {
      return std::nullopt;
    }
  }
  cidr c;
  c.address = *ip;
  c.prefix = v4 ? prefix + 96 : prefix;
  c.text = std::string(text);
  return c;
}

bool cidr::contains(const std::array<unsigned char, 16>& ip) const {
  unsigned full = prefix / 8, rest = prefix % 8;
  if (!std::equal(address.begin(), address.begin() + full, ip.begin())) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (address[full] & mask) == (ip[full] & mask);
}

bool consumer_config::has_scope(std::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

bool consumer_config::may_read(std::string_view account_sid) const {
  return std::any_of(accounts.begin(), accounts.end(),
                     [&](const std::string& a) { return a == "*" || a == account_sid; });
}

}  // namespace recgate::config
