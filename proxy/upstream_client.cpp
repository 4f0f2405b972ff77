// Upstream exchanges: resolve, connect, TLS (chain and host name verified, SNI), one request per
// connection, response head read, body streamed through body_source. Connection reuse comes with
// the upstream pool; until then each exchange sends "Connection: close".
#include "proxy/upstream_client.hpp"

#include <charconv>
#include <limits>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/load.hpp"

namespace recgate {
namespace {

constexpr std::string_view user_agent = "recgate/0.1";
constexpr std::size_t upstream_header_limit = 64 * 1024;

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
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
  std::string target = path_start == std::string_view::npos ? "/" : std::string(value.substr(path_start));
  return location{*origin, std::move(target)};
}

// One upstream connection, plain or TLS. Each async step sets its own deadline.
class connection {
 public:
  explicit connection(net::any_io_executor ex) : ex_(std::move(ex)) {}

  beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }

  net::awaitable<void> open(const config::base_url& origin, const config::upstream_config& cfg,
                            ssl::context* tls_context, std::optional<upstream_failure>& failure) {
    beast::error_code ec;
    tcp::resolver resolver(ex_);
    auto endpoints = co_await resolver.async_resolve(origin.host, std::to_string(origin.port),
                                                     net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      failure = upstream_failure{upstream_failure::kind::unreachable,
                                 "cannot resolve " + origin.host + ": " + ec.message()};
      co_return;
    }
    if (origin.tls()) tls_.emplace(ex_, *tls_context);
    else plain_.emplace(ex_);

    // Bounded by connect_timeout: a dead upstream must not hold the client for long.
    tcp().expires_after(cfg.connect_timeout);
    co_await tcp().async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      failure = upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                             : upstream_failure::kind::unreachable,
                                 "cannot connect to " + origin.authority() + ": " + ec.message()};
      co_return;
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
      if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), origin.host.c_str());
      else SSL_set1_host(ssl_handle, origin.host.c_str());
    } else {
      tls_->set_verify_mode(ssl::verify_none);
    }
    tcp().expires_after(cfg.connect_timeout);
    co_await tls_->async_handshake(ssl::stream_base::client,
                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      failure = upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                             : upstream_failure::kind::unreachable,
                                 "TLS handshake with " + origin.authority() +
                                     " failed: " + ec.message()};
    }
  }

  template <class Message>
  net::awaitable<void> write(Message& msg, beast::error_code& ec) {
    if (tls_) co_await http::async_write(*tls_, msg, net::redirect_error(net::use_awaitable, ec));
    else co_await http::async_write(*plain_, msg, net::redirect_error(net::use_awaitable, ec));
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
  net::any_io_executor ex_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
};

class exchange final : public upstream_exchange {
 public:
  exchange(std::unique_ptr<connection> conn, config::duration idle_timeout,
           std::size_t read_bytes)
      : conn_(std::move(conn)), idle_timeout_(idle_timeout) {
    // Beast reads at most the buffer's free capacity per call: a small buffer turns a body into
    // thousands of tiny reads, and each one wakes every reader of a fill.
    buffer_.reserve(read_bytes);
    parser_.header_limit(upstream_header_limit);
    // Recordings are large; memory is bounded by the caller's buffer, not by a body limit.
    // (Not boost::none: Beast 1.74 compares the length against an empty optional and fails.)
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  net::awaitable<std::optional<upstream_failure>> read_head(bool head_request,
                                                            config::duration timeout) {
    if (head_request) parser_.skip(true);
    beast::error_code ec;
    conn_->tcp().expires_after(timeout);
    co_await conn_->read_header(buffer_, parser_, ec);
    if (!ec) co_return std::nullopt;
    co_return upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                           : upstream_failure::kind::bad_response,
                               "reading the response head: " + ec.message()};
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
      // Bounded by idle_timeout: an upstream that stalls mid-body is given up on.
      conn_->tcp().expires_after(idle_timeout_);
      co_await conn_->read_some(buffer_, parser_, ec);
      if (ec == http::error::need_buffer) ec = {};
      std::size_t n = buffer.size() - parser_.get().body().size;
      if (ec) co_return 0;
      if (n > 0) co_return n;
    }
    co_return 0;
  }

  connection& conn() { return *conn_; }

 private:
  std::unique_ptr<connection> conn_;
  config::duration idle_timeout_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
};

}  // namespace

upstream_client::upstream_client(const config::upstream_config& cfg)
    : cfg_(cfg),
      basic_credentials_("Basic " + base64(cfg.project_id + ":" + cfg.api_token)),
      tls_(std::make_unique<ssl::context>(ssl::context::tls_client)) {
  tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (cfg.ca_file.empty()) tls_->set_default_verify_paths(ec);
  else tls_->load_verify_file(cfg.ca_file, ec);
  if (ec) {
    throw std::runtime_error("cannot load the upstream trust store" +
                             (cfg.ca_file.empty() ? std::string() : " " + cfg.ca_file) + ": " +
                             ec.message());
  }
}

upstream_client::~upstream_client() = default;

net::awaitable<upstream_result> upstream_client::fetch(const recording_request& request,
                                                       std::string request_id) {
  auto ex = co_await net::this_coro::executor;
  location where{cfg_.url, upstream_target(request)};
  for (unsigned redirects = 0;; ++redirects) {
    auto conn = std::make_unique<connection>(ex);
    std::optional<upstream_failure> failure;
    co_await conn->open(where.origin, cfg_, tls_.get(), failure);
    if (failure) co_return *failure;

    http::request<http::empty_body> req{request.head ? http::verb::head : http::verb::get,
                                        where.target, 11};
    req.set(http::field::host, where.origin.authority());
    req.set(http::field::user_agent, user_agent);
    req.set(http::field::connection, "close");
    req.set("X-Request-Id", request_id);
    if (request.upstream_range) {
      req.set(http::field::range, "bytes=" + std::to_string(request.upstream_range->first) + "-" +
                                      std::to_string(request.upstream_range->second));
    }
    if (request.format == recording_format::json) {
      // Metadata only, and only to the configured origin: json redirects are never followed.
      req.set(http::field::authorization, basic_credentials_);
      req.set(http::field::accept, "application/json");
    }
    beast::error_code ec;
    conn->tcp().expires_after(cfg_.header_timeout);
    co_await conn->write(req, ec);
    if (ec) {
      co_return upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                             : upstream_failure::kind::unreachable,
                                 "sending the request: " + ec.message()};
    }

    auto ex_ptr = std::make_unique<exchange>(std::move(conn), cfg_.idle_timeout, cfg_.buffer_bytes);
    if (auto f = co_await ex_ptr->read_head(request.head, cfg_.header_timeout)) co_return *f;

    if (!request.is_audio() || !is_redirect(ex_ptr->status())) {
      co_return std::unique_ptr<upstream_exchange>(std::move(ex_ptr));
    }
    if (redirects >= cfg_.max_redirects) {
      co_return upstream_failure{upstream_failure::kind::bad_response,
                                 "more than " + std::to_string(cfg_.max_redirects) + " redirects"};
    }
    auto loc_it = ex_ptr->headers().find(http::field::location);
    auto next = loc_it == ex_ptr->headers().end()
                    ? std::nullopt
                    : resolve_location(loc_it->value(), where.origin);
    if (!next) {
      co_return upstream_failure{upstream_failure::kind::bad_response,
                                 "redirect without a usable Location"};
    }
    if (where.origin.tls() && !next->origin.tls()) {
      co_return upstream_failure{upstream_failure::kind::bad_response,
                                 "refusing a redirect from https to http"};
    }
    where = std::move(*next);
  }
}

}  // namespace recgate
