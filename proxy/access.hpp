#pragma once
// Who is asking: maps the Authorization header to a configured consumer. Pure, no I/O.
// Keys are never stored: only their SHA-256, compared in constant time against every consumer.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace recgate {

using sha256_digest = std::array<unsigned char, 32>;

sha256_digest sha256(std::string_view data);
std::string to_hex(const unsigned char* data, std::size_t size);

class consumer_keys {
 public:
  // Prereq: every key_sha256 is 64 hex characters (config validation guarantees it).
  explicit consumer_keys(const std::vector<config::consumer_config>& consumers);

  // Returns the consumer id for an "Authorization: Bearer KEY" header value, or nullopt for a
  // missing, malformed or unknown credential. Takes the same time whichever consumer matches.
  std::optional<std::string> authenticate(std::string_view authorization) const;

 private:
  struct entry {
    std::string id;
    sha256_digest digest;
  };
  std::vector<entry> entries_;
};

// The token of "Bearer TOKEN" (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization);

}  // namespace recgate
