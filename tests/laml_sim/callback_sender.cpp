#include "callback_sender.hpp"

#include <chrono>

namespace laml_sim {

net::awaitable<callback_delivery> send_callback(const outgoing_callback& c) {
  callback_delivery out;
  beast::error_code ec;
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  const std::string port = std::to_string(c.port);
  auto found =
      co_await resolver.async_resolve(c.host, port, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    out.error = "resolve " + c.host + ": " + ec.message();
    co_return out;
  }
  beast::tcp_stream stream(ex);
  stream.expires_after(std::chrono::seconds(30));
  co_await stream.async_connect(found, net::redirect_error(net::use_awaitable, ec));
  if (!ec) {
    http::request<http::string_body> req{http::verb::post, c.target, 11};
    req.set(http::field::host, c.host + ":" + port);
    req.set(http::field::user_agent, "laml-sim");
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    if (!c.signature_header.empty()) req.set(c.signature_header, c.signature);
    req.keep_alive(false);
    req.body() = c.body;
    req.prepare_payload();
    co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  }
  if (!ec) {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (parser.is_header_done()) {
      out.status = parser.get().result_int();
      out.body = parser.get().body();
      ec = {};
    }
  }
  if (ec) out.error = ec.message();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return out;
}

}  // namespace laml_sim
