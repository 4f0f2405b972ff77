#pragma once
// Minting signed URLs, for `recgate sign` and POST /v1/signed-urls alike. Pure.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace recgate {

struct signing_request {
  std::string consumer;  // the issuer: must have the sign scope and may read the account
  std::string path;      // a recording's audio path, either prefix
  config::duration ttl{std::chrono::minutes(10)};
  std::string client;  // bind to this IP address; empty: any client
  bool bind_format = false;
};

struct signed_url {
  std::string url;  // the path and its query
  std::int64_t expires = 0;
};

struct signing_error {
  unsigned status;  // 400 (bad request), 403 (issuer may not), 503 (no signing key)
  std::string message;
};

// Longest lifetime a signed URL may be given.
inline constexpr std::chrono::hours max_signed_ttl{24 * 7};

// consumers: the current ones (after any reload); keys: the configured signing keys.
result<signed_url, signing_error> mint_signed_url(
    const std::vector<config::consumer_config>& consumers,
    const std::vector<config::signing_key>& keys, const signing_request& request,
    std::int64_t unix_now);

}  // namespace recgate
