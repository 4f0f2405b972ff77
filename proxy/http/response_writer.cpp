#include "proxy/http/response_writer.hpp"

#include <ctime>
#include <limits>
#include <memory>

#include "proxy/access/token_bucket.hpp"
#include "proxy/policy/error_body.hpp"

namespace recgate {

namespace {

// The Date header's text, formatted once a second per thread rather than once a response.
std::string_view http_date() {
  thread_local std::time_t formatted_at = -1;
  thread_local char text[64];
  thread_local std::size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != formatted_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    formatted_at = now;
  }
  return std::string_view(text, length);
}

}  // namespace

void set_common_headers(http::fields& fields, std::string_view request_id) {
  fields.set(http::field::date, http_date());
  fields.set("X-Request-Id", request_id);
}

net::awaitable<write_result> write_error(reply to, unsigned status, std::string_view message,
                                         const header_list& extra) {
  co_return co_await write_json(to, status, error_body(static_cast<int>(status), message), extra);
}

net::awaitable<write_result> write_empty(reply to, unsigned status, const header_list& headers) {
  http::response<http::empty_body> res{static_cast<http::status>(status), 11};
  set_common_headers(res, to.request_id);
  for (const auto& [name, value] : headers) res.set(name, value);
  res.keep_alive(to.keep_alive);
  beast::error_code ec;
  to.stream.expires_after(to.timeout);
  co_await http::async_write(to.stream, res, net::redirect_error(net::use_awaitable, ec));
  co_return write_result{0, !ec};
}

net::awaitable<write_result> write_json(reply to, unsigned status, std::string body,
                                        const header_list& extra) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  set_common_headers(res, to.request_id);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  for (const auto& [name, value] : extra) res.set(name, value);
  res.body() = std::move(body);
  res.keep_alive(to.keep_alive);
  res.prepare_payload();

  beast::error_code ec;
  // Bounded by the write timeout: a client that stops reading is dropped.
  to.stream.expires_after(to.timeout);
  http::response_serializer<http::string_body> sr{res};
  if (to.head) {
    co_await http::async_write_header(to.stream, sr, net::redirect_error(net::use_awaitable, ec));
  } else {
    co_await http::async_write(to.stream, sr, net::redirect_error(net::use_awaitable, ec));
  }
  co_return write_result{to.head ? 0 : res.body().size(), !ec};
}

net::awaitable<write_result> write_streamed(reply to, unsigned status, const header_list& headers,
                                            body_source& source, std::size_t buffer_bytes,
                                            token_bucket* budget) {
  auto& stream = to.stream;
  const bool head = to.head;
  const auto timeout = to.timeout;
  write_result result;
  http::response<http::buffer_body> res{static_cast<http::status>(status), 11};
  set_common_headers(res, to.request_id);
  for (const auto& [name, value] : headers) res.set(name, value);
  auto length = source.content_length();
  if (length)
    res.content_length(*length);
  else if (!head)
    res.chunked(true);
  res.keep_alive(to.keep_alive);
  res.body().data = nullptr;
  res.body().more = !head;

  http::response_serializer<http::buffer_body> sr{res};
  beast::error_code ec;
  // The head goes out at once when the body may keep the client waiting (a fill, the upstream);
  // before bytes already at hand it goes out with the first of them, in one write (one wake-up
  // of the client, not two).
  const bool at_hand = source.first_bytes_at_hand();
  if (head || !at_hand) {
    stream.expires_after(timeout);
    co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return result;
  }
  if (head) {
    result.complete = true;
    co_return result;
  }

  // Cached bytes are written from RocksDB's cache as they are (no copy, no buffer); other bodies
  // go through one buffer per response, allocated at its first use: memory stays bounded by
  // buffer_bytes (or one pinned chunk, while the client keeps up) whatever the body's size. A
  // paced body goes in buffer_bytes steps so the pacing stays smooth.
  body_scratch scratch(buffer_bytes);
  const std::size_t step =
      budget != nullptr ? buffer_bytes : std::numeric_limits<std::size_t>::max();
  bool head_sent = !at_hand;
  // A client that takes its bytes slowly (or is paced) gets them copied out of stored chunks, a
  // buffer at a time, so it holds no chunk while it reads: memory per slow reader is the buffer.
  constexpr auto slow_write = std::chrono::milliseconds(100);
  bool copying = budget != nullptr;
  if (copying) source.prefer_copies();
  for (;;) {
    auto view = co_await source.next(scratch, step, ec);
    std::size_t n = view.size();
    if (ec && !head_sent) {
      // Unreadable from its first byte: nothing is sent yet, so the caller can still answer
      // with the whole body from elsewhere rather than an error.
      result.unread = true;
      co_return result;
    }
    if (ec) co_return result;  // incomplete upstream body: the caller closes the connection
    if (budget != nullptr && n > 0) {
      auto wait = budget->take(static_cast<double>(n), std::chrono::steady_clock::now());
      if (wait.count() > 0) {
        net::steady_timer pace(stream.get_executor(), wait);
        co_await pace.async_wait(net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return result;
      }
    }
    // The last bytes of a body of known length end the message in the same write.
    bool last = n == 0 || (length && result.body_bytes + n == *length);
    res.body().data = n == 0 ? nullptr : const_cast<void*>(view.data());
    res.body().size = n;
    res.body().more = !last;
    // Bounded by the write timeout: a client that stops reading is dropped.
    stream.expires_after(timeout);
    auto write_started = std::chrono::steady_clock::now();
    co_await http::async_write(stream, sr, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return result;
    if (!copying && std::chrono::steady_clock::now() - write_started > slow_write) {
      copying = true;
      source.prefer_copies();
    }
    head_sent = true;
    result.body_bytes += n;
    if (last) break;
  }
  if (length && result.body_bytes != *length) co_return result;
  result.complete = true;
  co_return result;
}

}  // namespace recgate
