#pragma once
// The gateway's configuration as an immutable value. Parsing and validation live in load.hpp;
// this header is plain data so that every module can include it cheaply.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace recgate::config {

using duration = std::chrono::milliseconds;

// "host:port" as configured; host is a literal address or a name resolved at start-up.
struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const endpoint&) const = default;
};

// An absolute http or https URL with no path beyond "/", e.g. https://example.signalwire.com.
struct base_url {
  std::string scheme;  // "http" or "https"
  std::string host;
  std::uint16_t port = 0;  // explicit or the scheme's default
  bool tls() const { return scheme == "https"; }
  // Host header value: the host, plus ":port" when it is not the scheme's default.
  std::string authority() const;
  std::string to_string() const;
  bool operator==(const base_url&) const = default;
};

struct server_config {
  endpoint listen{"127.0.0.1", 8080};
  bool plain = true;     // the plain HTTP listener on `listen`; false: TLS only ([tls])
  unsigned threads = 0;  // 0: one per hardware core
  std::size_t max_header_bytes = 8 * 1024;
  static constexpr std::size_t max_header_bytes_limit = 64 * 1024;
  duration header_timeout{std::chrono::seconds(10)};
  duration idle_timeout{std::chrono::seconds(60)};
  duration write_timeout{std::chrono::seconds(60)};
  // Connections beyond this are answered 503 and closed; 0: no limit.
  unsigned max_connections = 10000;
  // After this many requests a connection is closed (Connection: close); 0: no limit.
  unsigned max_requests_per_connection = 1000;
  // SIGTERM: how long requests in flight may take to finish before the gateway exits anyway.
  duration drain_timeout{std::chrono::seconds(30)};
  bool operator==(const server_config&) const = default;
};

// The TLS listener. Certificates are read at start-up and again on SIGHUP.
struct tls_config {
  endpoint listen{"127.0.0.1", 8443};
  std::string cert_file;  // PEM chain, leaf first; empty: no TLS listener
  std::string key_file;   // PEM private key
  // Set: clients are asked for a certificate, verified against this CA; its subject or SAN
  // names a consumer (consumers' `certificates`).
  std::string client_ca_file;
  bool require_client_certificate = false;  // without one the handshake fails
  bool enabled() const { return !cert_file.empty(); }
  bool operator==(const tls_config&) const = default;
};

struct upstream_config {
  base_url url;
  std::string project_id;
  // Resolved from api_token_env or api_token_file. Never logged or printed.
  std::string api_token;
  std::string api_token_source;  // e.g. "env SIGNALWIRE_API_TOKEN": what check-config may print
  std::string ca_file;           // empty: the system trust store
  bool verify_tls = true;
  duration connect_timeout{std::chrono::seconds(5)};
  duration header_timeout{std::chrono::seconds(15)};
  duration idle_timeout{std::chrono::seconds(30)};
  // A body must average at least min_body_rate bytes a second over every body_rate_window of
  // time spent waiting for it, and may take at most body_timeout of such time in all; otherwise
  // it is given up on (an upstream that trickles). Time the gateway spends not reading (a slow
  // client, a relay waiting for its readers) does not count. min_body_rate 0: no minimum.
  std::uint64_t min_body_rate = 4096;
  duration body_rate_window{std::chrono::seconds(15)};
  duration body_timeout{std::chrono::minutes(10)};
  unsigned max_redirects = 3;
  std::size_t buffer_bytes = 64 * 1024;  // bytes buffered per streamed request
  // Idle kept-alive connections per upstream host; 0: a new connection per request.
  unsigned pool_size = 32;
  // Attempts after the first, for requests that failed before any byte reached the client
  // (unreachable, timeout, 502/503/504), with exponential backoff and jitter.
  unsigned retries = 2;
  duration retry_backoff{100};
  duration retry_backoff_max{std::chrono::seconds(2)};
  // After this many failed attempts in a row the circuit opens: requests that need the
  // upstream fail fast with 503 for breaker_cooldown, then one probe goes through.
  unsigned breaker_failures = 5;  // 0: no circuit breaker
  duration breaker_cooldown{std::chrono::seconds(5)};
  // An egress proxy ("http://host:port") reached with CONNECT; empty: direct.
  std::string egress_proxy;
  bool operator==(const upstream_config&) const = default;
};

// One SignalWire project the gateway serves ([[projects]], or [upstream]'s own base_url,
// project_id and token: the project "default"). Requests are routed to it by AccountSid; its
// credentials are never sent for another project's recordings. The connection settings
// (timeouts, pool, retries, breaker, trust) are [upstream]'s, common to every project.
struct project_config {
  std::string id;          // a name for logs, metrics and the audit trail
  base_url url;            // its space, e.g. https://support.signalwire.com
  std::string project_id;  // the AccountSid its recordings are under
  // Resolved from api_token_env or api_token_file. Never logged or printed.
  std::string api_token;
  std::string api_token_source;  // e.g. "env SUPPORT_SIGNALWIRE_TOKEN"
  // For its status callbacks (callback_signing_key_env / _file); empty: callbacks.signing_key.
  std::string callback_signing_key;
  bool operator==(const project_config&) const = default;
};

struct consumer_key {
  std::string id;      // names the key in logs and for rotation ("default" for key_sha256)
  std::string sha256;  // 64 lower-case hex characters: only the hash is ever configured
};

// A client network: an IPv4 or IPv6 address and a prefix length. IPv4 is kept as IPv4-mapped
// IPv6, so one comparison serves both.
struct cidr {
  std::array<unsigned char, 16> address{};
  unsigned prefix = 0;  // of the 128-bit form
  std::string text;     // as configured
  bool contains(const std::array<unsigned char, 16>& ip) const;
};

inline constexpr const char* scope_audio = "audio";
inline constexpr const char* scope_metadata = "metadata";
inline constexpr const char* scope_sign = "sign";
inline constexpr const char* scope_admin = "admin";
inline constexpr const char* scope_delete = "delete";

struct consumer_config {
  std::string id;
  std::vector<consumer_key> keys;     // several during a rotation: all valid
  std::vector<std::string> scopes;    // audio, metadata, sign, admin, delete
  std::vector<std::string> accounts;  // lower-case AccountSids, or "*" for every account
  std::vector<cidr> networks;         // allowed client networks; empty: any
  bool enabled = true;
  double rate_per_second = 0;   // 0: no limit
  double burst = 0;             // requests allowed at once above the rate; default: one second's
  double bytes_per_second = 0;  // response body bytes per second over all its requests; 0: none
  // Client certificate identities that authenticate this consumer on the TLS listener:
  // "CN=name", "DNS:host", "URI:spiffe://...", "email:addr" (subject CN or a SAN entry).
  std::vector<std::string> certificates;

  bool has_scope(std::string_view scope) const;
  bool may_read(std::string_view account_sid) const;
};

// A key for signed URLs. The secret comes from the environment or a file, never the config.
struct signing_key {
  std::string id;
  std::string secret;  // at least 32 bytes; never logged or printed
};

// Who may do what without a key.
struct access_config {
  bool public_audio = false;  // audio without credentials, as the upstream allows; default off
  // More [[consumers]] in a file of their own, reloaded on SIGHUP and when it changes.
  std::string consumers_file;
  // A request allowed by a signed URL also gets the grant as a cookie (rg_<sid>), so a player
  // may fetch the recording's other URLs (formats, prefixes) without the query string.
  bool signed_cookies = false;
  // Where revocations of signed URLs are kept across restarts; empty: in memory only.
  std::string revocations_file;
};

// A key that encrypts cached audio at rest (config/encryption_keys.hpp has the file format).
struct encryption_key {
  std::string id;      // recorded with each object, so older keys still read what they sealed
  std::string secret;  // 32 bytes; never logged or printed
  bool operator==(const encryption_key&) const = default;
};

struct cache_config {
  std::string path;  // RocksDB folder; empty: no cache (every request goes upstream)
  std::uint32_t chunk_size = 256 * 1024;
  std::uint64_t block_cache_bytes = 64ull << 20;
  // Sent with cached audio: recordings never change, so browsers may keep them.
  std::string cache_control = "private, max-age=31536000, immutable";
  std::uint64_t max_bytes = 0;  // least recently used objects leave beyond this; 0: no limit
  // Free space kept on the cache's filesystem (objects leave before a fill would take it below,
  // and a fill that cannot fit is streamed without being stored); 0: automatic.
  std::uint64_t min_free_bytes = 0;
  duration max_age{0};  // recordings leave after this age, popular or not; 0: never
  duration negative_ttl{std::chrono::seconds(10)};  // how long an upstream 404 is remembered
  duration metadata_ttl{0};  // .json bodies kept this long, per account; 0: always fresh
  // Kept metadata may be served this long past metadata_ttl while the upstream fails.
  duration stale_if_error{0};
  // Revalidation of existence: a hit on a recording last confirmed upstream (its fill, or the
  // last check) longer ago than this asks the upstream (a HEAD) whether it still exists; gone
  // there: purged, with a tombstone. 0: never (cached audio is immutable and served as is).
  duration revalidate_after{0};
  // cache.revalidate = "before-serving": the due hit waits for the check's answer;
  // "background" (false, the default): it is served and the check runs beside it.
  bool revalidate_before_serving = false;
  // Encryption at rest, from encryption_key_file or the variable encryption_key_env: the first
  // key seals new objects, every one reads. Empty: audio is stored as it came.
  std::vector<encryption_key> encryption_keys;
  std::string encryption_key_file;    // as configured (for the permission check)
  std::string encryption_key_source;  // "file PATH" or "env NAME": what check-config may print

  bool enabled() const { return !path.empty(); }
  bool encrypted() const { return !encryption_keys.empty(); }
  bool operator==(const cache_config&) const = default;
};

// The admin listener: health, cache statistics, purge and revocations. Loopback by default.
struct admin_config {
  endpoint listen{"127.0.0.1", 9090};
  bool enabled = true;
  // Every admin request needs a consumer key with the admin scope. Off by default for a
  // loopback-only listener; turn it on wherever anything else can reach the address.
  bool require_key = false;
  // With require_key, the paths that still need no key: probes and scrapers that change nothing.
  std::vector<std::string> exempt_paths{"/healthz", "/readyz"};
  bool operator==(const admin_config&) const = default;
};

// Recording status callbacks ([callbacks]): SignalWire (or Twilio) POSTs one when a recording
// is completed; a verified one prefetches the recording into the cache.
struct callbacks_config {
  std::string path;  // where they are POSTed, e.g. "/callbacks/recording-status"; empty: off
  // The key the callbacks are signed with (SignalWire signing key, Twilio auth token). From the
  // environment or a file only; never logged or printed.
  std::string signing_key;
  std::string signing_key_source;  // "env NAME" or "file PATH": what check-config may print
  std::vector<std::string> prefetch_formats{"wav"};  // "wav" and/or "mp3"
  unsigned concurrency = 2;                          // prefetch fills at once
  unsigned queue_limit = 1000;  // callbacks waiting for a prefetch slot; beyond: 503
  // Where a verified callback is POSTed afterwards (same form body); empty: nowhere. http only.
  std::string forward_url;
  base_url forward_base;       // forward_url's scheme, host and port
  std::string forward_target;  // forward_url's path (and query)
  duration forward_timeout{std::chrono::seconds(10)};
  // The externally visible base URL the sender signed ("https://gw.example.com", optionally with
  // a path prefix); empty: the listener's scheme and the request's Host.
  std::string public_url;
  bool enabled() const { return !path.empty(); }
  bool operator==(const callbacks_config&) const = default;
};

// The audit trail ([audit]): one JSON line per recording access, allowed or denied.
struct audit_config {
  std::string file;  // appended to (created 0600); empty: no audit trail
  duration flush_interval{std::chrono::seconds(1)};  // buffered lines reach the file this often
  bool enabled() const { return !file.empty(); }
  bool operator==(const audit_config&) const = default;
};

struct log_config {
  std::string level = "info";   // trace, debug, info, warn, error, critical, off
  std::string format = "text";  // text or json
  bool operator==(const log_config&) const = default;
};

struct config {
  server_config server;
  tls_config tls;
  upstream_config upstream;
  // Every project served: [upstream]'s ("default", when it has a base_url) first, then
  // [[projects]]. Never empty in a loaded config.
  std::vector<project_config> projects;
  std::vector<consumer_config> consumers;  // the main file's first, then the consumers file's
  std::size_t own_consumers = 0;           // how many came from the main file
  access_config access;
  std::vector<signing_key> signing_keys;  // the first signs; all verify (rotation)
  cache_config cache;
  admin_config admin;
  log_config log;
  callbacks_config callbacks;
  audit_config audit;
};

}  // namespace recgate::config
