#pragma once
// What a request carries to say who it is: the Authorization header's Bearer and Basic forms,
// and the cookie that keeps a signed grant for one recording. Parsing only; what a credential
// is worth is access_policy's decision.

#include <optional>
#include <string>
#include <string_view>

namespace recgate {

// The token of "Bearer TOKEN" (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// "Basic base64(user:password)" decoded, or nullopt.
struct basic_credentials {
  std::string user;
  std::string password;
};
std::optional<basic_credentials> basic_auth(std::string_view authorization);

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view cookies, std::string_view name);

// The cookie that keeps a signed grant for one recording: "rg_<sid without dashes>".
std::string grant_cookie_name(std::string_view sid);

}  // namespace recgate
