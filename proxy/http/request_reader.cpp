#include "proxy/http/request_reader.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string_view>

#include <sys/socket.h>

namespace recgate {
namespace {

constexpr std::size_t idle_read_bytes = 4096;
constexpr std::size_t body_read_bytes = 16384;

// Where the head ends ("\r\n\r\n" included) within text, searching from `from`; npos while it
// has not arrived. A line ended by a bare LF ends the search there too: the parser refuses it at
// once (400) rather than the gateway waiting for an end that never comes.
std::size_t head_end(std::string_view text, std::size_t from) {
  for (auto at = text.find('\n', from); at != std::string_view::npos;
       at = text.find('\n', at + 1)) {
    if (at == 0 || text[at - 1] != '\r') return at + 1;
    if (at >= 3 && text.substr(at - 3, 4) == "\r\n\r\n") return at + 1;
  }
  return std::string_view::npos;
}

}  // namespace

net::awaitable<bool> request_reader::read_more(client_stream& stream, std::size_t room) {
  beast::error_code ec;
  auto n = co_await stream.async_read_some(buffer_.prepare(std::max<std::size_t>(room, 1)),
                                           net::redirect_error(net::use_awaitable, ec));
  buffer_.commit(n);
  co_return !ec;
}

net::awaitable<read_result> request_reader::read(client_stream& stream,
                                                 http::request_parser<http::string_body>& parser,
                                                 const read_limits& limits, bool first) {
  const std::size_t head_limit = limits.max_header_bytes;
  if (!first && buffer_.size() == 0) {
    // Between requests an idle connection holds no buffer at all.
    buffer_.shrink_to_fit();
    stream.expires_after(limits.idle_timeout);
    if (!co_await read_more(stream, idle_read_bytes))
      co_return read_result{read_status::closed, {}};
  }
  // One deadline for the whole request, however it trickles in.
  stream.expires_after(limits.header_timeout);

  std::size_t scanned = 0;  // how far the search for the head's end has looked
  std::size_t end = std::string_view::npos;
  for (;;) {
    std::string_view text(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    // RFC 9112 2.2: empty lines before the request line are ignored.
    std::size_t blank = 0;
    while (blank < text.size() &&
           (text[blank] == '\n' ||
            (text[blank] == '\r' && blank + 1 < text.size() && text[blank + 1] == '\n'))) {
      blank += text[blank] == '\n' ? 1 : 2;
    }
    if (blank > 0) {
      buffer_.consume(blank);
      scanned = 0;
      continue;
    }
    auto window = text.substr(0, std::min(text.size(), head_limit));
    end = head_end(window, scanned >= 3 ? scanned - 3 : 0);
    if (end != std::string_view::npos) break;
    scanned = window.size();
    if (text.size() >= head_limit) {
      // Refused as soon as the bound is passed: nothing beyond it is read or parsed.
      bool no_line = window.find("\r\n") == std::string_view::npos;
      co_return read_result{no_line ? read_status::line_too_long : read_status::head_too_large, {}};
    }
    if (!co_await read_more(stream, head_limit - text.size())) {
      co_return read_result{read_status::closed, {}};
    }
  }

  // The whole head at once (and what the client sent of a body after it).
  parser.header_limit(static_cast<std::uint32_t>(head_limit));
  parser.body_limit(limits.max_body_bytes);
  parser.eager(true);
  beast::error_code ec;
  auto put = [&]() -> bool {
    try {
      buffer_.consume(parser.put(buffer_.data(), ec));
    } catch (const std::exception& e) {
      // Beast's fields refuse a value they cannot hold; the head bound keeps values below that,
      // and anything else it throws is answered like a parse error.
      ec = http::error::bad_value;
      return false;
    }
    if (ec == http::error::need_more) ec = {};
    return !ec;
  };
  if (put()) {
    while (!parser.is_done()) {
      // A body (POST /v1/signed-urls): bounded by body_limit, read in small steps.
      std::size_t cap = head_limit + limits.max_body_bytes;
      std::size_t room = cap > buffer_.size() ? std::min(body_read_bytes, cap - buffer_.size()) : 0;
      if (room == 0) {
        ec = http::error::body_limit;
        break;
      }
      if (!co_await read_more(stream, room)) co_return read_result{read_status::closed, {}};
      if (!put()) break;
    }
  }
  if (!ec) {
    // What follows (the answer) may wait on the upstream or a fill, bounded there; each write
    // to the client sets its own deadline.
    stream.expires_never();
    co_return read_result{read_status::ok, {}};
  }
  if (ec == http::error::body_limit) co_return read_result{read_status::body_too_large, {}};
  if (ec == http::error::header_limit) co_return read_result{read_status::head_too_large, {}};
  co_return read_result{read_status::invalid, ec.message()};
}

net::awaitable<void> linger_close(client_stream& stream) {
  using clock = std::chrono::steady_clock;
  constexpr auto quiet = std::chrono::milliseconds(100);
  // A client that finished its request and waits for the answer is drained in a read or two, one
  // that pipelined past a limit in a wake-up or two more (MSG_TRUNC drops without copying); one
  // that keeps sending (a flood) is not worth more than a few wake-ups and a second.
  constexpr std::size_t max_dropped = 1024 * 1024;
  constexpr int max_wakeups = 8;
  auto& socket = stream.lowest();
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  const auto until = clock::now() + std::chrono::seconds(1);
  std::size_t dropped = 0;
  char first = 0;  // a read waits for input with the stream's timeout; the rest is dropped below
  for (int wakeups = 0;
       !ec && wakeups < max_wakeups && dropped < max_dropped && clock::now() < until; ++wakeups) {
    stream.expires_after(std::min<clock::duration>(quiet, until - clock::now()));
    dropped += co_await socket.async_read_some(net::buffer(&first, 1),
                                               net::redirect_error(net::use_awaitable, ec));
    if (ec) break;
    // Linux drops queued TCP input without copying it anywhere when asked with MSG_TRUNC.
    auto n = ::recv(socket.native_handle(), nullptr, max_dropped, MSG_TRUNC | MSG_DONTWAIT);
    if (n > 0) dropped += static_cast<std::size_t>(n);
  }
}

}  // namespace recgate
