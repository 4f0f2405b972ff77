// The upstream client: requests built from a validated recording_request, the retry loop with
// its backoff and circuit breaker, redirects for audio, credentials for metadata. Connections
// and the pool are in upstream_connection.*, one response's reading in pooled_exchange.*.
#include "proxy/upstream/upstream_client.hpp"

#include <random>

#include <openssl/ssl.h>

#include "proxy/telemetry/logging.hpp"
#include "proxy/upstream/pooled_exchange.hpp"
#include "proxy/upstream/redirects.hpp"
#include "proxy/upstream/retry_backoff.hpp"
#include "proxy/upstream/upstream_connection.hpp"
#include "util/codec.hpp"

namespace recgate {
namespace {

// "id:secret" in base64, for a Basic Authorization header.
std::string basic_pair(std::string_view id, std::string_view secret) {
  std::string pair = std::string(id) + ":" + std::string(secret);
  return base64(reinterpret_cast<const unsigned char*>(pair.data()), pair.size());
}

// Errors that on a kept-alive connection mean only that the upstream had closed it meanwhile.
bool is_stale_connection(const upstream_failure& f) {
  return f.what != upstream_failure::kind::timeout;
}

// The request sent upstream for `request`, to `where`: built from the validated request alone,
// never from what the client sent. Credentials go only with metadata requests, which only
// ever go to the configured origin (json redirects are never followed). Rendered by hand into
// one string (every value is the gateway's own or validated: the target by the router or
// resolve_location, the request id by request_id_for), written in one call.
std::string upstream_request(const recording_request& request, const redirect_target& where,
                             std::string_view authority, const std::string& request_id,
                             bool keep_alive, const std::string* credentials) {
  std::string out;
  out.reserve(256 + where.target.size() + (credentials != nullptr ? credentials->size() : 0));
  out.append(request.remove ? "DELETE "
             : request.head ? "HEAD "
                            : "GET ")
      .append(where.target)
      .append(" HTTP/1.1\r\n");
  out.append("Host: ").append(authority).append("\r\n");
  out.append("User-Agent: ").append(upstream_user_agent).append("\r\n");
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("X-Request-Id: ").append(request_id).append("\r\n");
  if (request.upstream_range) {
    auto [first, last] = *request.upstream_range;
    out.append("Range: bytes=").append(std::to_string(first)).append("-");
    if (last != recording_request::open_range_end) out.append(std::to_string(last));
    out.append("\r\n");
  } else if (!request.forwarded.range.empty()) {
    out.append("Range: ").append(request.forwarded.range).append("\r\n");
  }
  // Pass-through validators, checked by forwardable_conditions (well-formed, no CR/LF).
  const auto& forwarded = request.forwarded;
  if (!forwarded.if_range.empty())
    out.append("If-Range: ").append(forwarded.if_range).append("\r\n");
  if (!forwarded.if_none_match.empty()) {
    out.append("If-None-Match: ").append(forwarded.if_none_match).append("\r\n");
  }
  if (!forwarded.if_modified_since.empty()) {
    out.append("If-Modified-Since: ").append(forwarded.if_modified_since).append("\r\n");
  }
  if (request.format == recording_format::json && credentials != nullptr) {
    out.append("Authorization: ").append(*credentials).append("\r\n");
    out.append("Accept: application/json\r\n");
  }
  out.append("\r\n");
  return out;
}

}  // namespace

std::optional<upstream_error_counts::which> error_kind(const upstream_failure& f) {
  switch (f.what) {
    case upstream_failure::kind::resolve:
      return upstream_error_counts::resolve;
    case upstream_failure::kind::connect:
      return upstream_error_counts::connect;
    case upstream_failure::kind::tls:
      return upstream_error_counts::tls;
    case upstream_failure::kind::timeout:
      return upstream_error_counts::timeout;
    case upstream_failure::kind::bad_response:
      return upstream_error_counts::bad_response;
    case upstream_failure::kind::circuit_open:
      return std::nullopt;
  }
  return std::nullopt;
}

result<std::unique_ptr<ssl::context>> upstream_tls_context(const config::upstream_config& cfg) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  if (cfg.ca_file.empty())
    tls->set_default_verify_paths(ec);
  else
    tls->load_verify_file(cfg.ca_file, ec);
  if (ec) {
    return fail("cannot load the upstream trust store" +
                (cfg.ca_file.empty() ? std::string() : " " + cfg.ca_file) + ": " + ec.message());
  }
  return tls;
}

upstream_client::upstream_client(const config::upstream_config& cfg, net::any_io_executor io,
                                 std::unique_ptr<ssl::context> tls)
    : cfg_(cfg),
      configured_key_(origin_key(cfg.url)),
      configured_authority_(cfg.url.authority()),
      io_(std::move(io)),
      basic_credentials_(std::make_shared<const std::string>(
          "Basic " + basic_pair(cfg.project_id, cfg.api_token))),
      tls_(std::move(tls)),
      pool_(std::make_shared<pool>(cfg.pool_size, cfg.idle_timeout)),
      health_(cfg.breaker_failures, cfg.breaker_cooldown) {
  tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // Sessions are kept per origin by the pool and offered again on the next handshake.
  SSL_CTX_set_session_cache_mode(tls_->native_handle(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(tls_->native_handle(), [](SSL* ssl, SSL_SESSION* session) -> int {
    auto* conn = static_cast<upstream_connection*>(
        SSL_get_ex_data(ssl, upstream_connection::session_ex_index()));
    if (conn == nullptr || conn->session_sink_ == nullptr || !SSL_SESSION_is_resumable(session)) {
      return 0;  // not kept
    }
    // A copy: OpenSSL marks the connection's own session not resumable when the connection is
    // freed without a TLS shutdown (as pooled connections are), which would void ours too.
    if (SSL_SESSION* copy = SSL_SESSION_dup(session))
      conn->session_sink_->keep_session(conn->key(), copy);
    return 0;
  });
}

upstream_client::~upstream_client() { pool_->close(); }

void upstream_client::set_credentials(std::string_view project_id, std::string_view api_token) {
  basic_credentials_.store(
      std::make_shared<const std::string>("Basic " + basic_pair(project_id, api_token)));
  // New credentials: whether they are refused is for the upstream to say again.
  if (credentials_state_.exchange(credentials_state::unknown) == credentials_state::refused) {
    logging::info("upstream credentials replaced; the next metadata request tries them");
  }
}

void upstream_client::observe_credentials(unsigned status) {
  if (status == 401 || status == 403) {
    errors_->add(upstream_error_counts::credentials);
    if (credentials_state_.exchange(credentials_state::refused) != credentials_state::refused) {
      logging::error("the upstream refused the gateway's credentials for project " +
                     cfg_.project_id + " (" + std::to_string(status) +
                     "): metadata requests are answered 502 until the API token is fixed "
                     "(a token file is re-read on SIGHUP) [kind=credentials]");
    }
    return;
  }
  if (credentials_state_.exchange(credentials_state::accepted) == credentials_state::refused) {
    logging::info("the upstream accepts the gateway's credentials again");
  }
}

void upstream_client::shutdown() { pool_->close(); }

net::awaitable<bool> upstream_client::probe() {
  auto conn = std::make_unique<upstream_connection>(io_, origin_key(cfg_.url));
  auto opened = co_await conn->open(cfg_.url, cfg_, tls_.get(), nullptr);
  co_return opened.ok();
}

net::awaitable<upstream_result> upstream_client::fetch(const recording_request& request,
                                                       std::string request_id) {
  for (unsigned n = 0;; ++n) {
    if (!health_.allow()) {
      counters_.breaker_rejections.fetch_add(1, std::memory_order_relaxed);
      co_return fail(upstream_failure{upstream_failure::kind::circuit_open,
                                      "circuit open: the upstream failed " +
                                          std::to_string(health_.consecutive_failures()) +
                                          " times in a row",
                                      false});
    }
    auto result = co_await attempt(request, request_id);
    bool retry = false;
    if (!result.ok()) {
      health_.record_failure();
      counters_.failures.fetch_add(1, std::memory_order_relaxed);
      if (auto k = error_kind(result.error())) errors_->add(*k);
      retry = result.error().transient;
    } else {
      auto status = (*result)->status();
      if (status >= 500) errors_->add(upstream_error_counts::http_5xx);
      // Only requests the gateway signs say anything about its credentials.
      if (request.format == recording_format::json && status < 500) observe_credentials(status);
      if (status == 502 || status == 503 || status == 504) {
        health_.record_failure();
        counters_.failures.fetch_add(1, std::memory_order_relaxed);
        retry = true;
      } else {
        health_.record_success();
      }
    }
    if (!retry || n >= cfg_.retries) co_return result;

    thread_local std::mt19937_64 rng{std::random_device{}()};
    auto delay = backoff_pause(cfg_.retry_backoff, cfg_.retry_backoff_max, n, rng());
    net::steady_timer pause(co_await net::this_coro::executor, delay);
    beast::error_code ec;
    co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return result;
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
  }
}

net::awaitable<result<std::unique_ptr<upstream_connection>, upstream_failure>>
upstream_client::connect(const config::base_url& origin, const std::string& key) {
  // On the requesting coroutine's io_context (see upstream_connection).
  auto conn = std::make_unique<upstream_connection>(co_await net::this_coro::executor, key);
  conn->session_sink_ = pool_.get();
  SSL_SESSION* resume = origin.tls() ? pool_->session(key) : nullptr;
  auto opened = co_await conn->open(origin, cfg_, tls_.get(), resume);
  if (resume != nullptr) SSL_SESSION_free(resume);
  if (!opened.ok()) co_return fail(opened.error());
  counters_.connections_opened.fetch_add(1, std::memory_order_relaxed);
  if (conn->ssl_handle() != nullptr && SSL_session_reused(conn->ssl_handle())) {
    counters_.tls_resumed.fetch_add(1, std::memory_order_relaxed);
  }
  co_return conn;
}

net::awaitable<upstream_result> upstream_client::attempt(const recording_request& request,
                                                         const std::string& request_id) {
  redirect_target where{cfg_.url, upstream_target(request)};
  const void* home = upstream_connection::home_of(co_await net::this_coro::executor);
  std::string redirected_key;
  std::string redirected_authority;
  for (unsigned redirects = 0;; ++redirects) {
    if (redirects > 0) {
      redirected_key = origin_key(where.origin);
      redirected_authority = where.origin.authority();
    }
    const std::string& key = redirects == 0 ? configured_key_ : redirected_key;
    const std::string& authority = redirects == 0 ? configured_authority_ : redirected_authority;
    // A pooled connection first; if it turns out the upstream closed it, one fresh try.
    std::unique_ptr<upstream_connection> conn =
        cfg_.pool_size > 0 ? pool_->take(key, home) : nullptr;
    std::unique_ptr<pooled_exchange> answer;
    std::chrono::steady_clock::time_point sent_at;
    for (;;) {
      bool pooled = conn != nullptr;
      if (pooled) {
        counters_.connections_reused.fetch_add(1, std::memory_order_relaxed);
      } else {
        auto connected = co_await connect(where.origin, key);
        if (!connected.ok()) co_return fail(connected.error());
        conn = std::move(*connected);
      }
      std::shared_ptr<const std::string> credentials;
      if (request.format == recording_format::json) credentials = basic_credentials_.load();
      // (A DELETE goes as a .json request: signed, never redirected.)
      auto req = upstream_request(request, where, authority, request_id, cfg_.pool_size > 0,
                                  credentials.get());
      counters_.attempts.fetch_add(1, std::memory_order_relaxed);
      sent_at = std::chrono::steady_clock::now();
      beast::error_code ec;
      conn->expires_after(cfg_.header_timeout);
      co_await conn->write(req, ec);
      answer = std::make_unique<pooled_exchange>(std::move(conn), pool_, cfg_, errors_, request_id);
      upstream_step step;
      if (ec) {
        step = fail(upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                                 : upstream_failure::kind::connect,
                                     "sending the request: " + ec.message()});
      } else {
        step = co_await answer->read_head(request.head, cfg_.header_timeout);
      }
      if (step.ok()) break;
      if (pooled && is_stale_connection(step.error())) {
        answer.reset();
        continue;  // conn is null: a fresh one
      }
      co_return fail(step.error());
    }
    if (observe_latency_) {
      observe_latency_(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - sent_at).count());
    }

    if (!request.is_audio() || !is_redirect(answer->status())) {
      co_return std::unique_ptr<upstream_exchange>(std::move(answer));
    }
    if (redirects >= cfg_.max_redirects) {
      co_return fail(upstream_failure{
          upstream_failure::kind::bad_response,
          "more than " + std::to_string(cfg_.max_redirects) + " redirects", false});
    }
    auto location = answer->headers().find(http::field::location);
    auto next = location == answer->headers().end()
                    ? std::nullopt
                    : resolve_location(location->value(), where.origin);
    if (!next) {
      co_return fail(upstream_failure{upstream_failure::kind::bad_response,
                                      "redirect without a usable Location", false});
    }
    if (where.origin.tls() && !next->origin.tls()) {
      co_return fail(upstream_failure{upstream_failure::kind::bad_response,
                                      "refusing a redirect from https to http", false});
    }
    where = std::move(*next);
  }
}

}  // namespace recgate
