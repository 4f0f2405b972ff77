#include "http_client.hpp"

#include <limits>

#include <boost/beast/core/detail/base64.hpp>

#include "artifacts.hpp"
#include "util/net/net.hpp"

namespace test_support {
namespace {

using steady = std::chrono::steady_clock;

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

std::chrono::milliseconds since(steady::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
}

net::awaitable<void> exchange(std::string host, unsigned short port, std::string method,
                              std::string target,
                              std::vector<std::pair<std::string, std::string>> headers,
                              std::string body, std::chrono::milliseconds timeout,
                              http_result& result) {
  const auto start = steady::now();
  auto use_ec = [](beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); };
  beast::error_code ec;
  const auto executor = co_await net::this_coro::executor;

  tcp::resolver resolver(executor);
  const auto endpoints = co_await resolver.async_resolve(host, std::to_string(port), use_ec(ec));
  if (ec) {
    result.error = "resolve: " + ec.message();
    co_return;
  }
  beast::tcp_stream stream(executor);
  // One deadline for the whole exchange.
  stream.expires_after(timeout);
  co_await stream.async_connect(endpoints, use_ec(ec));
  if (ec) {
    result.error = "connect: " + ec.message();
    co_return;
  }

  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, host + ":" + std::to_string(port));
  for (const auto& [name, value] : headers) req.insert(name, value);
  if (!body.empty()) {
    req.body() = std::move(body);
    req.prepare_payload();
  }
  co_await http::async_write(stream, req, use_ec(ec));
  if (ec) {
    result.error = "write: " + ec.message();
    co_return;
  }

  // Room for 64 KiB reads: an empty flat_buffer reads 512 bytes at a time, which makes a client
  // that many readers run at once (100 threads) read as slowly as a far-away one.
  beast::flat_buffer buffer;
  buffer.reserve(64 * 1024);
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (iequals(method, "HEAD")) parser.skip(true);
  co_await http::async_read_header(stream, buffer, parser, use_ec(ec));
  result.header_time = since(start);
  if (ec) {
    result.error = "read header: " + ec.message();
    co_return;
  }
  result.status = parser.get().result_int();
  for (const auto& field : parser.get())
    result.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  if (!parser.is_done()) co_await http::async_read(stream, buffer, parser, use_ec(ec));
  result.body = std::move(parser.get().body());
  if (ec) result.error = "read body: " + ec.message();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace

std::optional<std::string> http_result::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return std::nullopt;
}

std::size_t http_result::header_count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& field : headers) n += iequals(field.first, name) ? 1 : 0;
  return n;
}

http_result request(std::string host, unsigned short port, std::string method, std::string target,
                    std::vector<std::pair<std::string, std::string>> headers, std::string body,
                    std::chrono::milliseconds timeout) {
  const auto start = steady::now();
  http_result result;
  net::io_context ioc;
  net::co_spawn(ioc,
                exchange(std::move(host), port, std::move(method), std::move(target),
                         std::move(headers), std::move(body), timeout, result),
                [&result](std::exception_ptr e) {
                  if (!e) return;
                  try {
                    std::rethrow_exception(e);
                  } catch (const std::exception& x) {
                    result.error = std::string("exception: ") + x.what();
                  }
                });
  ioc.run();
  result.total_time = since(start);
  artifacts::record_response(port, result);
  return result;
}

std::string basic_authorization(std::string_view user, std::string_view password) {
  const std::string plain = std::string(user) + ":" + std::string(password);
  std::string encoded(beast::detail::base64::encoded_size(plain.size()), '\0');
  encoded.resize(beast::detail::base64::encode(encoded.data(), plain.data(), plain.size()));
  return "Basic " + encoded;
}

}  // namespace test_support

namespace test_support {

std::string raw_exchange(const std::string& host, unsigned short port, const std::string& bytes,
                         std::chrono::milliseconds timeout) {
  net::io_context ioc;
  std::string received;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        beast::error_code ec;
        auto ex = co_await net::this_coro::executor;
        tcp::resolver resolver(ex);
        auto endpoints = co_await resolver.async_resolve(
            host, std::to_string(port), net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
        beast::tcp_stream stream(ex);
        stream.expires_after(timeout);  // one deadline for the whole exchange
        co_await stream.async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;
        co_await net::async_write(stream, net::buffer(bytes),
                                  net::redirect_error(net::use_awaitable, ec));
        // A server may stop taking input before all of it was written (a limit reached, then
        // closed): what it answered is queued here all the same and read like any answer.
        if (ec && ec != net::error::operation_aborted) ec = {};
        char buffer[65536];
        while (!ec) {
          auto n = co_await stream.async_read_some(net::buffer(buffer),
                                                   net::redirect_error(net::use_awaitable, ec));
          received.append(buffer, n);
        }
      },
      net::detached);
  ioc.run();
  artifacts::record_raw(port, received);
  return received;
}

}  // namespace test_support
