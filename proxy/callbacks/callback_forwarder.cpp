#include "proxy/callbacks/callback_forwarder.hpp"

#include "util/net/net.hpp"

namespace recgate {

net::awaitable<forward_result> forward_callback(const config::callbacks_config& cfg,
                                                const std::string& body,
                                                const std::string& request_id,
                                                const std::string& prefetch_outcome) {
  forward_result out;
  auto ex = co_await net::this_coro::executor;
  beast::error_code ec;
  const auto& to = cfg.forward_base;
  // One deadline for the whole exchange, the name lookup included: a stalled resolver must not
  // hold a prefetch slot past forward_timeout.
  const auto deadline = std::chrono::steady_clock::now() + cfg.forward_timeout;
  auto resolver = std::make_shared<tcp::resolver>(ex);
  net::steady_timer lookup_deadline(ex, deadline);
  lookup_deadline.async_wait([resolver](beast::error_code e) {
    if (!e) resolver->cancel();  // the handler owns the resolver: safe after this frame ends
  });
  auto port = std::to_string(to.port);
  auto found =
      co_await resolver->async_resolve(to.host, port, net::redirect_error(net::use_awaitable, ec));
  lookup_deadline.cancel();
  if (ec) {
    out.error = (ec == net::error::operation_aborted ? std::string("timed out resolving ")
                                                     : std::string("cannot resolve ")) +
                to.host + ": " + ec.message();
    co_return out;
  }
  beast::tcp_stream stream(ex);
  stream.expires_at(deadline);
  co_await stream.async_connect(found, net::redirect_error(net::use_awaitable, ec));
  if (!ec) {
    http::request<http::string_body> req{http::verb::post, cfg.forward_target, 11};
    req.set(http::field::host, to.authority());
    req.set(http::field::user_agent, "recgate");
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    req.set("X-Request-Id", request_id);
    req.set("X-Recgate-Prefetch", prefetch_outcome);
    req.keep_alive(false);
    req.body() = body;
    req.prepare_payload();
    co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  }
  if (!ec) {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);  // the answer's body is not used: only its status
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    // Once the head has arrived the status is known, whatever happens to the body.
    if (parser.is_header_done()) {
      out.status = parser.get().result_int();
      ec = {};
    }
  }
  if (ec) {
    out.error =
        (ec == beast::error::timeout ? "timed out" : ec.message()) + " (" + to.authority() + ")";
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return out;
}

}  // namespace recgate
