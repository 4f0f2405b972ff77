#pragma once
// One upstream connection (plain or TLS, direct or through an egress proxy's CONNECT tunnel)
// and the pool that keeps idle ones and the last TLS session per origin. Include only from the
// upstream room's .cpp files: it brings in Beast, Asio and OpenSSL.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/ssl.h>

#include "config/config.hpp"
#include "proxy/upstream/upstream_client.hpp"
#include "util/net/net.hpp"
#include "util/net/socket_deadline.hpp"

namespace recgate {

inline constexpr std::string_view upstream_user_agent = "recgate/0.1";

// The pool's key for an origin: "scheme://host[:port]".
std::string origin_key(const config::base_url& origin);

// One upstream connection, plain or TLS, direct or through an egress proxy's CONNECT tunnel.
// It lives on the io_context of the request that opened it, and the pool hands it only to later
// requests on that same io_context: its I/O never wakes another thread. No strand: each
// io_context is run by one thread (proxy/app/server.cpp), and one request at a time uses it.
// Each async step sets its own deadline (expires_after) and the step clears it when it ends;
// past a deadline the socket is closed and the step fails with beast::error::timeout.
class upstream_connection {
 public:
  upstream_connection(net::any_io_executor io, std::string origin_key)
      : ex_(io), home_(home_of(io)), key_(std::move(origin_key)) {}

  // Which io_context an executor runs on: the pool's second key.
  static const void* home_of(const net::any_io_executor& io) {
    return &net::query(io, net::execution::context);
  }
  const void* home() const { return home_; }

  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  // The deadline of the next step (connect, handshake, write, read).
  void expires_after(std::chrono::steady_clock::duration d) { deadline_.expires_after(d); }
  // Idle in the pool, where another thread may destroy it: out of its io_context's sweeper.
  void park() { deadline_.release(); }
  const std::string& key() const { return key_; }
  SSL* ssl_handle() { return tls_ ? tls_->native_handle() : nullptr; }

  // Where this connection's new TLS sessions go (the pool), set before open().
  upstream_client::pool* session_sink_ = nullptr;

  // The SSL ex_data slot that points back at the connection.
  static int session_ex_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }

  // Response bytes received and not yet parsed. Empty whenever the connection is in the pool; its
  // capacity (upstream.buffer_bytes) stays with the connection from one request to the next.
  beast::flat_buffer read_buffer;

  bool reused = false;  // taken from the pool: a first failure may just mean the upstream closed it
  std::chrono::steady_clock::time_point idle_since;

  // Resolves, connects (through the egress proxy's tunnel when one is configured) and, for
  // https, shakes hands (chain and host name verified, SNI, `resume` offered if not null).
  net::awaitable<upstream_step> open(const config::base_url& origin,
                                     const config::upstream_config& cfg, ssl::context* tls_context,
                                     SSL_SESSION* resume);

  // A whole request head, as rendered bytes.
  net::awaitable<void> write(std::string_view bytes, beast::error_code& ec) {
    if (tls_)
      co_await net::async_write(*tls_, net::buffer(bytes),
                                net::redirect_error(net::use_awaitable, ec));
    else
      co_await net::async_write(*plain_, net::buffer(bytes),
                                net::redirect_error(net::use_awaitable, ec));
    step_done(ec);
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
    step_done(ec);
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
    step_done(ec);
  }

 private:
  // CONNECT host:port through the egress proxy; on 200 the TCP stream is a tunnel to origin.
  net::awaitable<upstream_step> tunnel(const config::base_url& origin,
                                       const config::upstream_config& cfg);
  // After each step: no deadline until the next one sets its own (the caller may now wait on a
  // client), and a step cut short by its deadline says so.
  void step_done(beast::error_code& ec) {
    if (ec && deadline_.expired()) ec = beast::error::timeout;
    deadline_.expires_never();
  }

  net::any_io_executor ex_;
  const void* home_;
  std::string key_;
  std::optional<tcp::socket> plain_;
  std::optional<beast::ssl_stream<tcp::socket>> tls_;
  socket_deadline deadline_;  // after the streams: it leaves the sweeper before they close
};

// Idle connections and the last TLS session, per origin. Shared with the exchanges that hand
// their connection back, which may outlive the client at shutdown: close() ends pooling.
struct upstream_client::pool {
  explicit pool(unsigned max_idle, config::duration idle_timeout)
      : max_idle_(max_idle), idle_timeout_(idle_timeout) {}
  ~pool() { close(); }

  // An idle connection to origin `key` that lives on io_context `home`, or null.
  std::unique_ptr<upstream_connection> take(const std::string& key, const void* home) {
    std::vector<std::unique_ptr<upstream_connection>> expired;  // destroyed outside the lock
    std::unique_ptr<upstream_connection> found;
    {
      std::lock_guard lock(mutex_);
      auto it = idle_.find(idle_key{home, key});
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

  void put(std::unique_ptr<upstream_connection> c) {
    std::lock_guard lock(mutex_);
    auto& list = idle_[idle_key{c->home(), c->key()}];
    if (closed_ || list.size() >= max_idle_) return;  // c closes as it goes
    c->idle_since = std::chrono::steady_clock::now();
    c->reused = true;
    c->park();
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
    decltype(idle_) idle;
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
  // Idle connections per io_context and origin: at most max_idle_ each.
  using idle_key = std::pair<const void*, std::string>;
  std::map<idle_key, std::vector<std::unique_ptr<upstream_connection>>> idle_;
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

}  // namespace recgate
