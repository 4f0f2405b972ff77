#include "proxy/upstream/upstream_connection.hpp"

#include <openssl/x509v3.h>

#include "config/load.hpp"

namespace recgate {

std::string origin_key(const config::base_url& origin) {
  return origin.scheme + "://" + origin.authority();
}

net::awaitable<upstream_step> upstream_connection::open(const config::base_url& origin,
                                                        const config::upstream_config& cfg,
                                                        ssl::context* tls_context,
                                                        SSL_SESSION* resume) {
  beast::error_code ec;
  // Through an egress proxy the TCP connection goes to the proxy, which opens a tunnel.
  std::optional<config::base_url> proxy;
  if (!cfg.egress_proxy.empty()) proxy = config::parse_base_url(cfg.egress_proxy);
  const auto& dial = proxy ? *proxy : origin;
  tcp::resolver resolver(ex_);
  auto endpoints = co_await resolver.async_resolve(dial.host, std::to_string(dial.port),
                                                   net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    co_return fail(upstream_failure{upstream_failure::kind::resolve,
                                    "cannot resolve " + dial.host + ": " + ec.message()});
  }
  if (origin.tls())
    tls_.emplace(ex_, *tls_context);
  else
    plain_.emplace(ex_);
  deadline_.watch(socket());

  // Bounded by connect_timeout: a dead upstream must not hold the client for long.
  expires_after(cfg.connect_timeout);
  co_await net::async_connect(socket(), endpoints, net::redirect_error(net::use_awaitable, ec));
  step_done(ec);
  if (ec) {
    co_return fail(upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                                : upstream_failure::kind::connect,
                                    "cannot connect to " + dial.authority() + ": " + ec.message()});
  }
  if (proxy) {
    if (auto tunnelled = co_await tunnel(origin, cfg); !tunnelled.ok()) co_return tunnelled;
  }
  if (!tls_) co_return upstream_step{};

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
  expires_after(cfg.connect_timeout);
  co_await tls_->async_handshake(ssl::stream_base::client,
                                 net::redirect_error(net::use_awaitable, ec));
  step_done(ec);
  if (ec) {
    // A certificate or protocol the gateway refuses is refused again on a retry.
    co_return fail(upstream_failure{
        ec == beast::error::timeout ? upstream_failure::kind::timeout : upstream_failure::kind::tls,
        "TLS handshake with " + origin.authority() + " failed: " + ec.message(),
        ec.category() != net::error::get_ssl_category()});
  }
  co_return upstream_step{};
}

net::awaitable<upstream_step> upstream_connection::tunnel(const config::base_url& origin,
                                                          const config::upstream_config& cfg) {
  auto& stream = socket();
  http::request<http::empty_body> req{http::verb::connect,
                                      origin.host + ":" + std::to_string(origin.port), 11};
  req.set(http::field::host, origin.host + ":" + std::to_string(origin.port));
  req.set(http::field::user_agent, upstream_user_agent);
  beast::error_code ec;
  // One deadline for the CONNECT exchange.
  expires_after(cfg.connect_timeout);
  co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a CONNECT answer has no body: the tunnel starts after its head
  beast::flat_buffer buffer;
  if (!ec) {
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
  }
  step_done(ec);
  if (ec) {
    co_return fail(upstream_failure{ec == beast::error::timeout ? upstream_failure::kind::timeout
                                                                : upstream_failure::kind::connect,
                                    "egress proxy CONNECT failed: " + ec.message()});
  }
  if (parser.get().result_int() != 200 || buffer.size() != 0) {
    co_return fail(upstream_failure{upstream_failure::kind::connect,
                                    "egress proxy refused CONNECT to " + origin.authority() + ": " +
                                        std::to_string(parser.get().result_int())});
  }
  co_return upstream_step{};
}

}  // namespace recgate
