#pragma once
// Signed, expiring URLs for browsers and embeds: a grant to one recording, carried in query
// parameters and checked with HMAC-SHA256 under a signing key named by id (for rotation). Pure:
// no I/O; the time is passed in.
//
//   ?rg_issued=UNIX&rg_expires=UNIX&rg_consumer=ID&rg_key=KEYID[&rg_format=wav|mp3][&rg_client=IP]&rg_sig=SIG
//
// The signature covers the recording (AccountSid and Sid, not the path's spelling, so both
// prefixes work), the format when bound, the expiry, the client address when bound, and the
// consumer that issued it. A grant is for audio only. The parameters never reach the upstream or
// a cache key (the router drops the query string).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace recgate {

struct signed_grant {
  std::string account_sid;
  std::string sid;
  std::string format;        // "wav", "mp3", or empty: any audio format
  std::int64_t issued = 0;   // unix seconds: a revocation voids URLs issued before it
  std::int64_t expires = 0;  // unix seconds
  std::string client;        // an IP address the grant is bound to, or empty
  std::string consumer;      // who issued it
  std::string key_id;        // which signing key
};

// The query string (without '?') for a grant: every parameter, signature last.
std::string signed_query(const signed_grant& grant, std::string_view secret);

struct parsed_signature {
  signed_grant grant;  // account_sid and sid are left empty: they come from the path
  std::string signature;
};

// True when the query string carries a signature at all.
bool has_signature(std::string_view query);
// The grant's parameters, or nullopt when they are malformed or incomplete.
std::optional<parsed_signature> parse_signed_query(std::string_view query);

// True when signature is the grant's under secret (constant-time comparison).
bool signature_valid(const signed_grant& grant, std::string_view signature,
                     std::string_view secret);

}  // namespace recgate
