#pragma once
// A one-shot HTTP/1.1 client for tests: one connection, one request, the whole response read into
// memory. Failures are reported in the result, never thrown, so a test can observe a reset or a
// body shorter than its Content-Length. No Beast in this header (it compiles slowly).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace test_support {

struct http_result {
  unsigned status = 0;                                       // 0 when no response header arrived
  std::vector<std::pair<std::string, std::string>> headers;  // in order, duplicates kept
  std::string body;   // what arrived, also when the connection ended early
  std::string error;  // empty on a complete response; else what failed (connect, reset, ...)
  std::chrono::milliseconds header_time{0};  // from the start of the call to the full header
  std::chrono::milliseconds total_time{0};   // from the start of the call to the end

  bool ok() const { return error.empty(); }
  // The first value of header `name`, compared case-insensitively.
  std::optional<std::string> header(std::string_view name) const;
  // How many times header `name` occurs.
  std::size_t header_count(std::string_view name) const;
};

// Connects to host:port, sends `method target` with a Host header, `headers` and `body` (with
// Content-Length when non-empty), reads the response (body skipped for HEAD) and closes.
// Does not follow redirects. The whole exchange must finish within `timeout`.
http_result request(std::string host, unsigned short port, std::string method, std::string target,
                    std::vector<std::pair<std::string, std::string>> headers = {},
                    std::string body = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// "Basic " + base64(user + ":" + password), for an Authorization header.
std::string basic_authorization(std::string_view user, std::string_view password);

}  // namespace test_support

namespace test_support {

// Sends `bytes` as they are on one connection and returns everything the server sends back until
// it closes the connection or `timeout` passes. For pipelining, keep-alive and malformed input.
std::string raw_exchange(const std::string& host, unsigned short port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace test_support
