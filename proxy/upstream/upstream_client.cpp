// Upstream exchanges: resolve, connect (directly or through an egress proxy's CONNECT tunnel),
// TLS (chain and host name verified, SNI, sessions resumed), request, response head, body
// streamed through body_source. A connection whose response was read to the end goes back to a
// bounded per-origin pool.
#include "proxy/upstream/upstream_client.hpp"

#include <charconv>
#include <limits>
#include <mutex>
#include <random>
#include <unordered_map>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/load.hpp"
#include "proxy/access/access.hpp"
#include "proxy/telemetry/logging.hpp"
#include "util/codec.hpp"

namespace recgate {
namespace {

constexpr std::string_view user_agent = "recgate/0.1";
constexpr std::size_t upstream_header_limit = 64 * 1024;

// "id:secret" in base64, for a Basic Authorization header.
std::string basic_pair(std::string_view id, std::string_view secret) {
  std::string pair = std::string(id) + ":" + std::string(secret);
  return base64(reinterpret_cast<const unsigned char*>(pair.data()), pair.size());
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Where a redirect points: an origin and a path (with its query, which storage URLs carry).
struct location {
  config::base_url origin;
  std::string target;
};

std::optional<location> resolve_location(std::string_view value, const config::base_url& from) {
  if (value.starts_with('/') && !value.starts_with("//")) return location{from, std::string(value)};
  auto scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  auto path_start = value.find('/', scheme_end + 3);
  auto origin = config::parse_base_url(value.substr(0, path_start));
  if (!origin) return std::nullopt;
  std::string target =
      path_start == std::string_view::npos ? "/" : std::string(value.substr(path_start));
  return location{*origin, std::move(target)};
}

// One upstream connection, plain or TLS, direct or through an egress proxy's CONNECT tunnel.
// It has a strand of its own, so it can be kept in the pool and used by any session later.
// Each async step sets its own deadline.
class connection {
 public:
  connection(net::any_io_executor io, std::string origin_key)
      : ex_(net::make_strand(io)), key_(std::move(origin_key)) {}

  beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  const std::string& key() const { return key_; }
  SSL* ssl_handle() { return tls_ ? tls_->native_handle() : nullptr; }

  // Where this connection's new TLS sessions go (the pool), set before open().
  upstream_client::pool* session_sink_ = nullptr;

  // The SSL ex_data slot that points back at the connection.
  static int session_ex_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }

  bool reused = false;  // taken from the pool: a first failure may just mean the upstream closed it
  std::chrono::steady_clock::time_point idle_since;

  net::awaitable<void> open(const config::base_url& origin, const config::upstream_config& cfg,
                            ssl::context* tls_context, SSL_SESSION* resume,
                            std::optional<upstream_failure>& failure) {
    beast::error_code ec;
    // Through an egress proxy the TCP connection goes to the proxy, which opens a tunnel.
    std::optional<config::base_url> proxy;
    if (!cfg.egress_proxy.empty()) proxy = config::parse_base_url(cfg.egress_proxy);
    const auto& dial = proxy ? *proxy : origin;
    tcp::resolver resolver(ex_);
    auto endpoints = co_await resolver.async_resolve(dial.host, std::to_string(dial.port),
                                                     net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      failure = upstream_failure{upstream_failure::kind::resolve,
                                 "cannot resolve " + dial.host + ": " + ec.message()};
      co_return;
    }
    if (origin.tls())
      tls_.emplace(ex_, *tls_context);
    else
      plain_.emplace(ex_);

    // Bounded by connect_timeout: a dead upstream must not hold the client for long.
    tcp().expires_after(cfg.connect_timeout);
    co_await tcp().async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      failure = upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                             : upstream_failure::kind::connect,
                                 "cannot connect to " + dial.authority() + ": " + ec.message()};
      co_return;
    }
    if (proxy) {
      co_await tunnel(origin, cfg, failure);
      if (failure) co_return;
    }
    if (!tls_) co_return;

    SSL* ssl_handle = tls_->native_handle();
    boost::system::error_code addr_ec;
    net::ip::make_address(origin.host, addr_ec);
    bool is_ip = !addr_ec;
    if (!is_ip) SSL_set_tlsext_host_name(ssl_handle, origin.host.c_str());  // SNI
    if (cfg.verify_tls) {
      tls_->set_verify_mode(ssl::verify_peer);
      // Let OpenSSL check the certificate's names against the host we meant to reach.
      if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), origin.host.c_str());
      else
        SSL_set1_host(ssl_handle, origin.host.c_str());
    } else {
      tls_->set_verify_mode(ssl::verify_none);
    }
    if (resume != nullptr) SSL_set_session(ssl_handle, resume);
    // New sessions (TLS 1.3 tickets arrive after the handshake) reach the pool through the
    // context's new-session callback, which finds the pool and origin here.
    if (session_sink_ != nullptr) SSL_set_ex_data(ssl_handle, session_ex_index(), this);
    tcp().expires_after(cfg.connect_timeout);
    co_await tls_->async_handshake(ssl::stream_base::client,
                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      // A certificate or protocol the gateway refuses is refused again on a retry.
      failure =
          upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                       : upstream_failure::kind::tls,
                           "TLS handshake with " + origin.authority() + " failed: " + ec.message(),
                           ec.category() != net::error::get_ssl_category()};
    }
  }

  template <class Message>
  net::awaitable<void> write(Message& msg, beast::error_code& ec) {
    if (tls_)
      co_await http::async_write(*tls_, msg, net::redirect_error(net::use_awaitable, ec));
    else
      co_await http::async_write(*plain_, msg, net::redirect_error(net::use_awaitable, ec));
  }

  template <class Parser>
  net::awaitable<void> read_header(beast::flat_buffer& buffer, Parser& parser,
                                   beast::error_code& ec) {
    if (tls_) {
      co_await http::async_read_header(*tls_, buffer, parser,
                                       net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await http::async_read_header(*plain_, buffer, parser,
                                       net::redirect_error(net::use_awaitable, ec));
    }
  }

  template <class Parser>
  net::awaitable<void> read_some(beast::flat_buffer& buffer, Parser& parser,
                                 beast::error_code& ec) {
    if (tls_) {
      co_await http::async_read_some(*tls_, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await http::async_read_some(*plain_, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    }
  }

 private:
  // CONNECT host:port through the egress proxy; on 200 the TCP stream is a tunnel to origin.
  net::awaitable<void> tunnel(const config::base_url& origin, const config::upstream_config& cfg,
                              std::optional<upstream_failure>& failure) {
    auto& stream = tcp();
    http::request<http::empty_body> req{http::verb::connect,
                                        origin.host + ":" + std::to_string(origin.port), 11};
    req.set(http::field::host, origin.host + ":" + std::to_string(origin.port));
    req.set(http::field::user_agent, user_agent);
    beast::error_code ec;
    stream.expires_after(cfg.connect_timeout);
    co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
    http::response_parser<http::empty_body> parser;
    parser.skip(true);  // a CONNECT answer has no body: the tunnel starts after its head
    beast::flat_buffer buffer;
    if (!ec) {
      co_await http::async_read_header(stream, buffer, parser,
                                       net::redirect_error(net::use_awaitable, ec));
    }
    if (ec) {
      failure = upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                             : upstream_failure::kind::connect,
                                 "egress proxy CONNECT failed: " + ec.message()};
    } else if (parser.get().result_int() != 200 || buffer.size() != 0) {
      failure = upstream_failure{upstream_failure::kind::connect,
                                 "egress proxy refused CONNECT to " + origin.authority() + ": " +
                                     std::to_string(parser.get().result_int())};
    }
  }

  net::any_io_executor ex_;
  std::string key_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
};

}  // namespace

// Idle connections and the last TLS session, per origin. Shared with the exchanges that hand
// their connection back, which may outlive the client at shutdown: close() ends pooling.
struct upstream_client::pool {
  explicit pool(unsigned max_idle, config::duration idle_timeout)
      : max_idle_(max_idle), idle_timeout_(idle_timeout) {}
  ~pool() { close(); }

  std::unique_ptr<connection> take(const std::string& key) {
    std::vector<std::unique_ptr<connection>> expired;  // destroyed outside the lock
    std::unique_ptr<connection> found;
    {
      std::lock_guard lock(mutex_);
      auto it = idle_.find(key);
      auto now = std::chrono::steady_clock::now();
      while (it != idle_.end() && !it->second.empty() && !found) {
        auto c = std::move(it->second.back());
        it->second.pop_back();
        // An upstream closes idle connections on its own schedule; ours is idle_timeout.
        if (now - c->idle_since < idle_timeout_)
          found = std::move(c);
        else
          expired.push_back(std::move(c));
      }
    }
    return found;
  }

  void put(std::unique_ptr<connection> c) {
    std::lock_guard lock(mutex_);
    auto& list = idle_[c->key()];
    if (closed_ || list.size() >= max_idle_) return;  // c closes as it goes
    c->idle_since = std::chrono::steady_clock::now();
    c->reused = true;
    list.push_back(std::move(c));
  }

  // The session to resume for origin, with a reference the caller frees; or null.
  SSL_SESSION* session(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return nullptr;
    SSL_SESSION_up_ref(it->second);
    return it->second;
  }
  // Takes the reference to s (from the new-session callback).
  void keep_session(const std::string& key, SSL_SESSION* s) {
    std::lock_guard lock(mutex_);
    auto& slot = sessions_[key];
    if (slot != nullptr) SSL_SESSION_free(slot);
    slot = s;
  }

  void close() {
    std::unordered_map<std::string, std::vector<std::unique_ptr<connection>>> idle;
    std::lock_guard lock(mutex_);
    closed_ = true;
    idle.swap(idle_);
    for (auto& [key, s] : sessions_) SSL_SESSION_free(s);
    sessions_.clear();
  }

 private:
  std::mutex mutex_;
  bool closed_ = false;
  unsigned max_idle_;
  config::duration idle_timeout_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<connection>>> idle_;
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

namespace {

class exchange final : public upstream_exchange {
 public:
  exchange(std::unique_ptr<connection> conn, std::shared_ptr<upstream_client::pool> pool,
           const config::upstream_config& cfg, std::shared_ptr<upstream_error_counts> errors,
           const std::string& request_id)
      : conn_(std::move(conn)),
        pool_(std::move(pool)),
        idle_timeout_(cfg.idle_timeout),
        min_rate_(cfg.min_body_rate),
        rate_window_(cfg.body_rate_window),
        body_timeout_(cfg.body_timeout),
        errors_(std::move(errors)),
        request_id_(request_id) {
    const std::size_t read_bytes = cfg.buffer_bytes;
    // Beast reads at most the buffer's free capacity per call: a small buffer turns a body into
    // thousands of tiny reads, and each one wakes every reader of a fill.
    buffer_.reserve(read_bytes);
    parser_.header_limit(upstream_header_limit);
    // Recordings are large; memory is bounded by the caller's buffer, not by a body limit.
    // (Not boost::none: Beast 1.74 compares the length against an empty optional and fails.)
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  ~exchange() override { release(); }

  // A connection whose response was read to its end, with nothing after it, goes back to the
  // pool for the next request to that origin: as soon as the end is read, before the client
  // has the last bytes (so a client's next request finds it there).
  void release() {
    if (conn_ && pool_ && !failed_ && parser_.is_done() && parser_.keep_alive() &&
        buffer_.size() == 0) {
      pool_->put(std::move(conn_));
    }
  }

  net::awaitable<std::optional<upstream_failure>> read_head(bool head_request,
                                                            config::duration timeout) {
    if (head_request) parser_.skip(true);
    beast::error_code ec;
    conn_->tcp().expires_after(timeout);
    co_await conn_->read_header(buffer_, parser_, ec);
    if (!ec) {
      if (parser_.is_done()) release();  // HEAD, or an empty body
      co_return std::nullopt;
    }
    failed_ = true;
    // An upstream too slow to answer is not asked again: that would multiply the client's wait
    // and the upstream's load. A connection that broke is.
    bool timed_out = ec == beast::error::timeout;
    co_return upstream_failure{
        timed_out ? upstream_failure::kind::timeout : upstream_failure::kind::bad_response,
        "reading the response head: " + ec.message(), !timed_out};
  }

  // A body that broke off (reset, closed short of its length), stalled or came too slowly:
  // counted and logged here, the one place every upstream body is read through.
  void body_failed(const beast::error_code& ec, std::string_view why = {}) {
    if (ec == net::error::operation_aborted) return;  // shutting down: not the upstream's doing
    auto kind = !why.empty()                  ? upstream_error_counts::slow
                : ec == beast::error::timeout ? upstream_error_counts::timeout
                                              : upstream_error_counts::body;
    errors_->add(kind);
    auto length = content_length();
    logging::warn("request_id=" + request_id_ + " upstream body broke off after " +
                  std::to_string(body_bytes_) +
                  (length ? " of " + std::to_string(*length) : std::string()) +
                  " bytes [kind=" + std::string(upstream_error_counts::names[kind]) +
                  "]: " + (why.empty() ? ec.message() : std::string(why)));
  }

  // Whether the time spent waiting for this body says to give up on it: below min_body_rate
  // over a whole window, or past body_timeout in all. Says why.
  std::string too_slow(std::chrono::steady_clock::duration waited, std::size_t bytes) {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    total_wait_ += waited;
    window_wait_ += waited;
    window_bytes_ += bytes;
    if (total_wait_ >= body_timeout_) {
      return "the body took longer than body_timeout (" +
             std::to_string(duration_cast<milliseconds>(body_timeout_).count()) + " ms) to arrive";
    }
    if (window_wait_ >= rate_window_) {
      double seconds = std::chrono::duration<double>(window_wait_).count();
      if (min_rate_ > 0 &&
          static_cast<double>(window_bytes_) < static_cast<double>(min_rate_) * seconds) {
        return "the body came at " +
               std::to_string(static_cast<std::uint64_t>(window_bytes_ / seconds)) +
               " bytes/s over " +
               std::to_string(duration_cast<milliseconds>(window_wait_).count()) +
               " ms, below min_body_rate " + std::to_string(min_rate_);
      }
      window_wait_ = {};
      window_bytes_ = 0;
    }
    return {};
  }

  unsigned status() const override { return parser_.get().result_int(); }
  const http::fields& headers() const override { return parser_.get().base(); }

  std::optional<std::uint64_t> content_length() const override {
    auto it = parser_.get().find(http::field::content_length);
    if (it == parser_.get().end()) return std::nullopt;
    std::uint64_t v = 0;
    auto text = it->value();
    auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (err != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
  }

  net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                        beast::error_code& ec) override {
    ec = {};
    // Framing (chunk headers) can be consumed without producing body bytes: read until bytes,
    // the end of the message, or an error.
    while (!parser_.is_done()) {
      auto& body = parser_.get().body();
      body.data = buffer.data();
      body.size = buffer.size();
      // Bounded by idle_timeout (an upstream that stalls mid-body is given up on) and by what
      // is left of body_timeout.
      auto left = body_timeout_ - total_wait_;
      conn_->tcp().expires_after(
          std::min<std::chrono::steady_clock::duration>(idle_timeout_, left));
      auto started = std::chrono::steady_clock::now();
      co_await conn_->read_some(buffer_, parser_, ec);
      if (ec == http::error::need_buffer) ec = {};
      std::size_t n = buffer.size() - parser_.get().body().size;
      body_bytes_ += n;
      auto slow = too_slow(std::chrono::steady_clock::now() - started, n);
      if (!ec && !slow.empty()) ec = beast::error::timeout;
      if (ec) {
        failed_ = true;
        body_failed(ec, slow);
        co_return 0;
      }
      if (parser_.is_done()) release();
      if (n > 0) co_return n;
    }
    co_return 0;
  }

 private:
  std::unique_ptr<connection> conn_;
  std::shared_ptr<upstream_client::pool> pool_;
  config::duration idle_timeout_;
  std::uint64_t min_rate_;
  config::duration rate_window_;
  config::duration body_timeout_;
  std::chrono::steady_clock::duration total_wait_{};   // spent waiting for this body's bytes
  std::chrono::steady_clock::duration window_wait_{};  // of which in the current rate window
  std::uint64_t window_bytes_ = 0;
  std::shared_ptr<upstream_error_counts> errors_;
  std::string request_id_;
  std::uint64_t body_bytes_ = 0;
  bool failed_ = false;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
};

std::string origin_key(const config::base_url& origin) {
  return origin.scheme + "://" + origin.authority();
}

// Errors that on a kept-alive connection mean only that the upstream had closed it meanwhile.
bool is_stale_connection(const upstream_failure& f) {
  return f.what != upstream_failure::kind::timeout;
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

upstream_client::upstream_client(const config::upstream_config& cfg, net::any_io_executor io)
    : cfg_(cfg),
      io_(std::move(io)),
      basic_credentials_(std::make_shared<const std::string>(
          "Basic " + basic_pair(cfg.project_id, cfg.api_token))),
      tls_(std::make_unique<ssl::context>(ssl::context::tls_client)),
      pool_(std::make_shared<pool>(cfg.pool_size, cfg.idle_timeout)),
      health_(cfg.breaker_failures, cfg.breaker_cooldown) {
  tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // Sessions are kept per origin by the pool and offered again on the next handshake.
  SSL_CTX_set_session_cache_mode(tls_->native_handle(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(tls_->native_handle(), [](SSL* ssl, SSL_SESSION* session) -> int {
    auto* conn = static_cast<connection*>(SSL_get_ex_data(ssl, connection::session_ex_index()));
    if (conn == nullptr || conn->session_sink_ == nullptr || !SSL_SESSION_is_resumable(session)) {
      return 0;  // not kept
    }
    // A copy: OpenSSL marks the connection's own session not resumable when the connection is
    // freed without a TLS shutdown (as pooled connections are), which would void ours too.
    if (SSL_SESSION* copy = SSL_SESSION_dup(session))
      conn->session_sink_->keep_session(conn->key(), copy);
    return 0;
  });
  boost::system::error_code ec;
  if (cfg.ca_file.empty())
    tls_->set_default_verify_paths(ec);
  else
    tls_->load_verify_file(cfg.ca_file, ec);
  if (ec) {
    throw std::runtime_error("cannot load the upstream trust store" +
                             (cfg.ca_file.empty() ? std::string() : " " + cfg.ca_file) + ": " +
                             ec.message());
  }
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
  auto conn = std::make_unique<connection>(io_, origin_key(cfg_.url));
  std::optional<upstream_failure> failure;
  co_await conn->open(cfg_.url, cfg_, tls_.get(), nullptr, failure);
  co_return !failure;
}

net::awaitable<upstream_result> upstream_client::fetch(const recording_request& request,
                                                       std::string request_id) {
  for (unsigned n = 0;; ++n) {
    if (!health_.allow()) {
      counters_.breaker_rejections.fetch_add(1, std::memory_order_relaxed);
      co_return upstream_failure{upstream_failure::kind::circuit_open,
                                 "circuit open: the upstream failed " +
                                     std::to_string(health_.consecutive_failures()) +
                                     " times in a row",
                                 false};
    }
    auto result = co_await attempt(request, request_id);
    bool retry = false;
    if (auto* f = std::get_if<upstream_failure>(&result)) {
      health_.record_failure();
      counters_.failures.fetch_add(1, std::memory_order_relaxed);
      if (auto k = error_kind(*f)) errors_->add(*k);
      retry = f->transient;
    } else {
      auto status = std::get<std::unique_ptr<upstream_exchange>>(result)->status();
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

    // Exponential backoff with full jitter in its upper half: base * 2^n, at most the max.
    auto delay = cfg_.retry_backoff * (1LL << std::min(n, 20u));
    delay = std::min<config::duration>(delay, cfg_.retry_backoff_max);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<long long> jitter(delay.count() / 2, delay.count());
    net::steady_timer pause(co_await net::this_coro::executor, config::duration(jitter(rng)));
    beast::error_code ec;
    co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return result;
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
  }
}

net::awaitable<upstream_result> upstream_client::attempt(const recording_request& request,
                                                         const std::string& request_id) {
  location where{cfg_.url, upstream_target(request)};
  for (unsigned redirects = 0;; ++redirects) {
    auto key = origin_key(where.origin);
    // A pooled connection first; if it turns out the upstream closed it, one fresh try.
    std::unique_ptr<connection> conn = cfg_.pool_size > 0 ? pool_->take(key) : nullptr;
    for (;;) {
      bool pooled = conn != nullptr;
      if (pooled) {
        counters_.connections_reused.fetch_add(1, std::memory_order_relaxed);
      } else {
        conn = std::make_unique<connection>(io_, key);
        conn->session_sink_ = pool_.get();
        std::optional<upstream_failure> failure;
        SSL_SESSION* resume = where.origin.tls() ? pool_->session(key) : nullptr;
        co_await conn->open(where.origin, cfg_, tls_.get(), resume, failure);
        if (resume != nullptr) SSL_SESSION_free(resume);
        if (failure) co_return *failure;
        counters_.connections_opened.fetch_add(1, std::memory_order_relaxed);
        if (conn->ssl_handle() != nullptr && SSL_session_reused(conn->ssl_handle())) {
          counters_.tls_resumed.fetch_add(1, std::memory_order_relaxed);
        }
      }

      http::request<http::empty_body> req{request.head ? http::verb::head : http::verb::get,
                                          where.target, 11};
      req.set(http::field::host, where.origin.authority());
      req.set(http::field::user_agent, user_agent);
      if (cfg_.pool_size == 0) req.set(http::field::connection, "close");
      req.set("X-Request-Id", request_id);
      if (request.upstream_range) {
        auto [first, last] = *request.upstream_range;
        std::string range = "bytes=" + std::to_string(first) + "-";
        if (last != recording_request::open_range_end) range += std::to_string(last);
        req.set(http::field::range, range);
      }
      if (request.format == recording_format::json) {
        // Metadata only, and only to the configured origin: json redirects are never followed.
        req.set(http::field::authorization, *basic_credentials_.load());
        req.set(http::field::accept, "application/json");
      }
      counters_.attempts.fetch_add(1, std::memory_order_relaxed);
      auto sent_at = std::chrono::steady_clock::now();
      beast::error_code ec;
      conn->tcp().expires_after(cfg_.header_timeout);
      co_await conn->write(req, ec);
      std::optional<upstream_failure> failure;
      if (ec) {
        failure = upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                               : upstream_failure::kind::connect,
                                   "sending the request: " + ec.message()};
      }
      auto ex_ptr = std::make_unique<exchange>(std::move(conn), pool_, cfg_, errors_, request_id);
      if (!failure) failure = co_await ex_ptr->read_head(request.head, cfg_.header_timeout);
      if (failure) {
        if (pooled && is_stale_connection(*failure)) continue;  // conn is null: a fresh one
        co_return *failure;
      }
      if (observe_latency_) {
        observe_latency_(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - sent_at).count());
      }

      if (!request.is_audio() || !is_redirect(ex_ptr->status())) {
        co_return std::unique_ptr<upstream_exchange>(std::move(ex_ptr));
      }
      if (redirects >= cfg_.max_redirects) {
        co_return upstream_failure{upstream_failure::kind::bad_response,
                                   "more than " + std::to_string(cfg_.max_redirects) + " redirects",
                                   false};
      }
      auto loc_it = ex_ptr->headers().find(http::field::location);
      auto next = loc_it == ex_ptr->headers().end()
                      ? std::nullopt
                      : resolve_location(loc_it->value(), where.origin);
      if (!next) {
        co_return upstream_failure{upstream_failure::kind::bad_response,
                                   "redirect without a usable Location", false};
      }
      if (where.origin.tls() && !next->origin.tls()) {
        co_return upstream_failure{upstream_failure::kind::bad_response,
                                   "refusing a redirect from https to http", false};
      }
      where = std::move(*next);
      break;
    }
  }
}

}  // namespace recgate
