#include "proxy/access/credentials.hpp"

#include "util/codec.hpp"

namespace recgate {

namespace {

// The credentials after "SCHEME " (scheme case-insensitive), trimmed; nullopt otherwise.
std::optional<std::string_view> after_scheme(std::string_view authorization,
                                             std::string_view scheme) {
  if (authorization.size() <= scheme.size() + 1 ||
      !iequals(authorization.substr(0, scheme.size()), scheme) ||
      authorization[scheme.size()] != ' ') {
    return std::nullopt;
  }
  auto rest = authorization.substr(scheme.size() + 1);
  while (rest.starts_with(' ')) rest.remove_prefix(1);
  while (rest.ends_with(' ')) rest.remove_suffix(1);
  if (rest.empty() || rest.find(' ') != std::string_view::npos) return std::nullopt;
  return rest;
}

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  return after_scheme(authorization, "bearer");
}

std::optional<basic_credentials> basic_auth(std::string_view authorization) {
  auto encoded = after_scheme(authorization, "basic");
  if (!encoded || encoded->size() % 4 != 0 || encoded->size() > 4096) return std::nullopt;
  auto decoded = base64_decode(*encoded);
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return basic_credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    auto pair = cookies.substr(0, end);
    while (pair.starts_with(' ')) pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end + 1);
  }
  return {};
}

std::string grant_cookie_name(std::string_view sid) {
  std::string name = "rg_";
  for (char c : sid) {
    if (c != '-') name += c;
  }
  return name;
}

}  // namespace recgate
