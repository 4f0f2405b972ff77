#pragma once
// Who is asking and whether they may: maps a request's credential, account, format and client
// address to a decision. Pure apart from the rate-limit buckets it keeps (a mutex, no I/O);
// time is passed in. Keys are never stored, only their SHA-256, compared in constant time
// against every configured key, so neither timing nor answers reveal which consumers exist.
//
// Order: credential (401 when missing or not a key of ours, or a Basic username that does not
// go with it), then enabled, client network, scope, account (403), then the rate limit (429).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "proxy/access/credentials.hpp"
#include "proxy/access/revocations.hpp"
#include "proxy/access/token_bucket.hpp"
#include "util/digest.hpp"

namespace recgate {

// The digest of the key a connection presented last, with the Authorization value it came in:
// a client sends the same key on every request of a connection, and hashing it is most of the
// cost of deciding. Only the digest is kept; which consumer it matches is looked up each time,
// so a reload applies to the next request as before.
struct key_digest_memo {
  std::string authorization;
  sha256_digest digest{};
};

struct access_request {
  std::string_view authorization;   // the header's value; empty when absent
  std::string_view account_sid;     // from the routed path (lower case)
  bool metadata = false;            // .json needs the metadata scope, audio the audio scope
  std::string_view client_address;  // the peer's IP address as text
  std::string_view sid{};           // from the routed path (lower case)
  std::string_view format{};        // "wav", "mp3" or "json"; "" for peaks (derived from audio)
  std::string_view query{};         // the target's query string, for signed URLs
  std::int64_t unix_now = 0;        // for signed URLs' expiry
  // The scope needed, when it is neither audio nor metadata (e.g. "sign"); no signed URLs then.
  std::string_view scope{};
  // The verified client certificate's identities (TLS listener), or null.
  const std::vector<std::string>* certificate = nullptr;
  // Cookies sent with the request (the Cookie header), for a signed grant kept in a cookie.
  std::string_view cookies{};
  // The connection's memo of its last key's digest, or null (hash every time).
  key_digest_memo* key_memo = nullptr;
};

enum class access_outcome { allow, unauthenticated, forbidden, rate_limited };

struct access_decision {
  access_outcome outcome = access_outcome::unauthenticated;
  std::string consumer = "-";            // the consumer id once a key matched
  std::string key_id;                    // which of its keys
  std::string reason;                    // for the access log: never sent to the client
  std::chrono::seconds retry_after{0};   // with rate_limited
  std::shared_ptr<token_bucket> budget;  // with allow: the consumer's bytes/s limit, or null
  // With allow by a signed URL: the grant's query string and expiry, to keep it in a cookie.
  std::string grant_query;
  std::int64_t grant_expires = 0;
};

// A decision that names no consumer: its outcome and the access log's reason.
access_decision decided(access_outcome outcome, std::string reason);

class access_policy {
 public:
  // Prereq: cfg has been validated (keys are 64 hex characters, networks parsed).
  // revocations, when given, voids signed URLs; it is shared across reloads.
  // previous: the policy this one replaces on a reload; consumers that stay keep their
  // rate-limit state, so a reload does not refill anyone's allowance.
  explicit access_policy(const config::config& cfg,
                         std::shared_ptr<const revocation_list> revocations = nullptr,
                         access_policy* previous = nullptr);

  access_decision decide(const access_request& request, std::chrono::steady_clock::time_point now);

  const std::vector<config::consumer_config>& consumers() const { return consumers_; }
  // The signing keys of this policy's config: the first signs new URLs, all verify.
  const std::vector<config::signing_key>& signing_keys() const { return signing_keys_; }

 private:
  struct key_entry {
    sha256_digest digest;
    std::size_t consumer;
    std::string id;
  };
  // A signed URL (no Authorization header, rg_* parameters): 403 unless it is whole, unexpired,
  // for this recording and client, and issued by an enabled consumer that may sign for it.
  // (signed_access.cpp)
  access_decision decide_signed(const access_request& request,
                                std::chrono::steady_clock::time_point now);
  access_decision decide_signed_query(const access_request& request, std::string_view query,
                                      std::chrono::steady_clock::time_point now);
  // Enabled, network, scope, account, rate: the checks after the consumer is known.
  access_decision authorize(std::size_t index, std::string key_id, const access_request& request,
                            std::chrono::steady_clock::time_point now);
  const config::consumer_config* find_consumer(std::string_view id, std::size_t& index) const;
  bool take_token(std::size_t consumer, std::chrono::steady_clock::time_point now,
                  std::chrono::seconds& retry_after);

  std::vector<config::consumer_config> consumers_;
  std::vector<key_entry> keys_;
  std::vector<config::signing_key> signing_keys_;
  std::shared_ptr<const revocation_list> revocations_;
  bool public_audio_ = false;
  std::unordered_map<std::string, std::size_t> by_certificate_;
  std::string cookie_prefix_;  // empty: signed grants are not kept in cookies
  // Per consumer, null when it has no such limit: requests a second, response bytes a second.
  // A reload hands a consumer's buckets on when its limits stay, so nobody's allowance refills.
  std::vector<std::shared_ptr<token_bucket>> requests_;
  std::vector<std::shared_ptr<token_bucket>> bytes_;
};

}  // namespace recgate
