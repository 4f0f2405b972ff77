#pragma once
// The only code that talks to SignalWire. It builds each upstream request from a validated
// recording_request (never from what a client sent), adds the project's Basic credentials to
// metadata requests only, verifies TLS chains and host names, and follows audio redirects
// without credentials. Connections are kept alive in a bounded pool per host, TLS sessions are
// resumed, failures before any byte reached the client are retried with backoff, and a circuit
// breaker fails fast while the upstream is down. Bodies have an idle timeout, a minimum average
// rate and a deadline. Failures are counted by kind (upstream_error_counts: resolve, connect,
// tls, timeout, bad_response, http_5xx, body, slow, credentials). Include only from .cpp files
// that use net.hpp.

#include <array>
#include <atomic>
#include <cassert>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "cache/body_source.hpp"
#include "config/config.hpp"
#include "proxy/policy/recording_request.hpp"
#include "proxy/upstream/upstream_health.hpp"
#include "util/net/net.hpp"
#include "util/result.hpp"
#include "util/shared_setting.hpp"

namespace recgate {

// Why an upstream exchange failed before its response head arrived.
struct upstream_failure {
  // resolve: the name did not resolve; connect: no TCP connection (refused, unreachable, the
  // egress proxy refused the tunnel, the request could not be sent); tls: the handshake failed
  // (certificate refused, say).
  enum class kind { resolve, connect, tls, timeout, bad_response, circuit_open };
  kind what;
  std::string detail;     // for logs; contains no credentials
  bool transient = true;  // false: retrying cannot help (a redirect policy refused, say)
};

// One step of an exchange (connecting, the tunnel, the response head): done, or why not.
using upstream_step = result<void, upstream_failure>;

// Upstream errors by kind, for recgate_upstream_errors_total{kind}: each failed attempt (its
// failure kind, or http_5xx for a 5xx answer), each response body that broke off (body),
// stalled past idle_timeout (timeout) or came too slowly (slow: below min_body_rate, or past
// body_timeout), and each signed request the upstream refused (credentials: a 401 or 403 to the
// gateway's own credentials). Circuit-open rejections are not upstream errors (they have their
// own counter). Shared with the exchanges, which may outlive the client at shutdown.
struct upstream_error_counts {
  enum which : std::size_t {
    resolve,
    connect,
    tls,
    timeout,
    bad_response,
    http_5xx,
    body,
    slow,
    credentials,
    count
  };
  static constexpr std::array<std::string_view, count> names{
      "resolve",  "connect", "tls",  "timeout",    "bad_response",
      "http_5xx", "body",    "slow", "credentials"};
  std::array<std::atomic<std::uint64_t>, count> by_kind{};

  void add(which w) { by_kind[w].fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t value(which w) const { return by_kind[w].load(std::memory_order_relaxed); }
};

// The counter a failure is counted under; nullopt for circuit_open.
std::optional<upstream_error_counts::which> error_kind(const upstream_failure& f);

// An upstream response whose head has been read; the body is read through body_source.
class upstream_exchange : public body_source {
 public:
  virtual unsigned status() const = 0;
  virtual const http::fields& headers() const = 0;
};

using upstream_result = result<std::unique_ptr<upstream_exchange>, upstream_failure>;

// Counters for metrics; monotonic.
struct upstream_counters {
  std::atomic<std::uint64_t> attempts{0};  // requests sent (retries included)
  std::atomic<std::uint64_t> connections_opened{0};
  std::atomic<std::uint64_t> connections_reused{0};  // taken from the pool
  std::atomic<std::uint64_t> tls_resumed{0};         // handshakes that resumed a session
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> failures{0};            // attempts that failed (any kind)
  std::atomic<std::uint64_t> breaker_rejections{0};  // requests failed fast, circuit open
};

// Seconds from sending a request to its response head: the metrics' latency histogram.
using latency_observer = std::function<void(double seconds)>;

class upstream_connection;

// The client TLS context that verifies the upstream: the system's trust store, or cfg.ca_file;
// why not when it cannot be loaded (fatal at start-up).
result<std::unique_ptr<ssl::context>> upstream_tls_context(const config::upstream_config& cfg);

class upstream_client {
 public:
  // Prereq: cfg outlives the client. io: the io_context's executor; each pooled connection
  // gets a strand of its own on it. tls: from upstream_tls_context(cfg).
  upstream_client(const config::upstream_config& cfg, net::any_io_executor io,
                  std::unique_ptr<ssl::context> tls);
  ~upstream_client();

  // Sends GET (or HEAD) for the recording and reads the response head, retrying what failed
  // before any byte could have reached the client. Runs on the caller's executor. request_id
  // is forwarded as X-Request-Id.
  net::awaitable<upstream_result> fetch(const recording_request& request, std::string request_id);

  // Connects (and for https completes a handshake) to the configured upstream: /readyz.
  net::awaitable<bool> probe();

  // Closes idle pooled connections and stops pooling: before the io_context goes away.
  void shutdown();

  const upstream_health& health() const { return health_; }

  // The project's credentials, sent on metadata requests: replaced by a reload (a token file
  // re-read on SIGHUP), which also forgets that the previous ones were refused.
  void set_credentials(std::string_view project_id, std::string_view api_token);
  // Whether the upstream refused the gateway's credentials (401/403 to a signed request) the last
  // time it answered one; logged when it changes.
  enum class credentials_state { unknown, accepted, refused };
  credentials_state credentials() const { return credentials_state_.load(); }
  const upstream_counters& counters() const { return counters_; }
  const upstream_error_counts& errors() const { return *errors_; }
  // Prereq: called before the first fetch.
  void set_latency_observer(latency_observer f) {
    assert(counters_.attempts.load() == 0);
    observe_latency_ = std::move(f);
  }

  struct pool;  // idle connections and TLS sessions, per origin (upstream_connection.hpp)

 private:
  net::awaitable<upstream_result> attempt(const recording_request& request,
                                          const std::string& request_id);
  // A new connection to origin (pool key `key`), TLS session resumed when the pool has one.
  net::awaitable<result<std::unique_ptr<upstream_connection>, upstream_failure>> connect(
      const config::base_url& origin, const std::string& key);

  // A signed request's answer: refused (401/403) or accepted (anything else the upstream says).
  void observe_credentials(unsigned status);

  const config::upstream_config& cfg_;
  // The configured origin's pool key and Host value, rendered once rather than per request.
  const std::string configured_key_;
  const std::string configured_authority_;
  net::any_io_executor io_;
  // "Basic base64(project_id:api_token)"; never logged. Replaced whole by a reload.
  shared_setting<const std::string> basic_credentials_;
  std::atomic<credentials_state> credentials_state_{credentials_state::unknown};
  std::unique_ptr<ssl::context> tls_;
  std::shared_ptr<pool> pool_;
  upstream_health health_;
  upstream_counters counters_;
  std::shared_ptr<upstream_error_counts> errors_ = std::make_shared<upstream_error_counts>();
  latency_observer observe_latency_;
};

}  // namespace recgate
