#include "proxy/app/admin_client.hpp"

#include "util/net/net.hpp"

namespace recgate {

admin_reply admin_request(const config::endpoint& at, const std::string& method,
                          const std::string& target, const std::string& key,
                          std::chrono::milliseconds timeout) {
  admin_reply reply;
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout);
    stream.connect(resolver.resolve(at.host, std::to_string(at.port)));
    http::request<http::empty_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, at.to_string());
    req.set(http::field::connection, "close");
    if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    reply.status = res.result_int();
    reply.body = std::move(res.body());
  } catch (const std::exception& e) {
    reply.error = "cannot reach the admin listener at " + at.to_string() + ": " + e.what();
  }
  return reply;
}

}  // namespace recgate
