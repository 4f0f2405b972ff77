#include "proxy/http/response_writer.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <limits>
#include <memory>
#include <span>

#include "proxy/access/token_bucket.hpp"
#include "proxy/http/response_head.hpp"
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

// Asio's own completion condition (transfer_all) caps each write_some at 64 KiB: a 256 KiB
// chunk went in four system calls and four timer updates. This one lets the kernel take as much
// as its socket buffer holds at each call.
std::size_t whole_buffers(const boost::system::error_code& ec, std::size_t /*written*/) {
  return ec ? 0 : std::numeric_limits<std::size_t>::max();
}

// The head of a response to `to`: status line, Date, X-Request-Id and the caller's fields.
response_head start_head(const reply& to, unsigned status, const header_list& headers) {
  response_head head(status, http_date(), to.request_id);
  for (const auto& [name, value] : headers) head.add(name, value);
  return head;
}

}  // namespace

net::awaitable<write_result> write_error(reply to, unsigned status, std::string_view message,
                                         const header_list& extra) {
  co_return co_await write_json(to, status, error_body(static_cast<int>(status), message), extra);
}

net::awaitable<write_result> write_empty(reply to, unsigned status, const header_list& headers) {
  auto head = start_head(to, status, headers);
  head.finish(to.keep_alive);
  beast::error_code ec;
  to.stream.expires_after(to.timeout);
  co_await net::async_write(to.stream, net::buffer(head.text()), whole_buffers,
                            net::redirect_error(net::use_awaitable, ec));
  to.stream.expires_never();
  co_return write_result{0, !ec};
}

net::awaitable<write_result> write_json(reply to, unsigned status, std::string body,
                                        const header_list& extra) {
  // The caller's fields, then the defaults it did not replace.
  auto head = start_head(to, status, extra);
  auto given = [&](std::string_view field) {
    return std::any_of(extra.begin(), extra.end(),
                       [&](const auto& h) { return beast::iequals(h.first, field); });
  };
  if (!given("Content-Type")) head.add("Content-Type", "application/json");
  if (!given("Cache-Control")) head.add("Cache-Control", "no-store");
  head.content_length(body.size());
  head.finish(to.keep_alive);

  beast::error_code ec;
  // Bounded by the write timeout: a client that stops reading is dropped.
  to.stream.expires_after(to.timeout);
  const std::size_t body_bytes = to.head ? 0 : body.size();
  std::array<net::const_buffer, 2> message{net::buffer(head.text()),
                                           net::buffer(body.data(), body_bytes)};
  co_await net::async_write(to.stream, message, whole_buffers,
                            net::redirect_error(net::use_awaitable, ec));
  to.stream.expires_never();
  co_return write_result{body_bytes, !ec};
}

net::awaitable<write_result> write_streamed(reply to, unsigned status, const header_list& headers,
                                            body_source& source, std::size_t buffer_bytes,
                                            token_bucket* budget) {
  auto& stream = to.stream;
  const bool head = to.head;
  const auto timeout = to.timeout;
  write_result result;
  auto length = source.content_length();
  auto message_head = start_head(to, status, headers);
  if (length)
    message_head.content_length(*length);
  else if (!head)
    message_head.chunked();
  message_head.finish(to.keep_alive);
  const bool chunked = !length && !head;

  beast::error_code ec;
  // The head goes out at once when the body may keep the client waiting (a fill, the upstream);
  // before bytes already at hand it goes out with the first of them, in one write (one wake-up
  // of the client, not two).
  const bool at_hand = source.first_bytes_at_hand();
  if (head || !at_hand) {
    stream.expires_after(timeout);
    co_await net::async_write(stream, net::buffer(message_head.text()), whole_buffers,
                              net::redirect_error(net::use_awaitable, ec));
    // The wait for the body's bytes is bounded by their source, not the write timeout.
    stream.expires_never();
    if (ec) co_return result;
  }
  if (head) {
    result.complete = true;
    co_return result;
  }

  // Cached bytes are written from RocksDB's cache as they are (no copy, no buffer); other bodies
  // go through one buffer per response, allocated at its first use: memory stays bounded by
  // buffer_bytes (or gather_bytes of pinned chunks, while the client keeps up) whatever the
  // body's size. A paced body goes in buffer_bytes steps so the pacing stays smooth.
  body_scratch scratch(buffer_bytes);
  const std::size_t step =
      budget != nullptr ? buffer_bytes : std::numeric_limits<std::size_t>::max();
  bool head_sent = !at_hand;
  // A client that takes its bytes slowly (or is paced) gets them copied out of stored chunks, a
  // buffer at a time, so it holds no chunk while it reads: memory per slow reader is the buffer.
  constexpr auto slow_write = std::chrono::milliseconds(100);
  bool copying = budget != nullptr;
  if (copying) source.prefer_copies();
  static constexpr std::string_view crlf = "\r\n";
  static constexpr std::string_view last_chunk = "0\r\n\r\n";
  // A stored object sent to a client that keeps up goes up to gather_bytes of chunks per write,
  // so the kernel sends full-sized segments (one 256 KiB chunk per write sent 10 MiB hits in
  // segments of 55.7k bytes on average, 1 MiB writes in 60k: ss -ti, bench/README). The chunks
  // stay pinned until their write is done.
  constexpr std::size_t gather_bytes = 1 << 20;
  const bool gather = source.immediate() && length && budget == nullptr;
  std::array<net::const_buffer, body_source::max_views> views;
  for (;;) {
    std::size_t view_count = 0;
    if (gather && !copying) {
      view_count = co_await source.next_views(scratch, gather_bytes, views, ec);
    } else {
      views[0] = co_await source.next(scratch, step, ec);
      view_count = views[0].size() > 0 ? 1 : 0;
    }
    std::size_t n = 0;
    for (std::size_t i = 0; i < view_count; ++i) n += views[i].size();
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
    // The last bytes of a body of known length end the message; an empty read ends a chunked
    // one with its last chunk. One gather write: the head if not yet sent, the chunk's framing
    // when chunked, the bytes.
    bool last = n == 0 || (length && result.body_bytes + n == *length);
    // The head, a chunk's size line, the views, its CRLF or the last chunk.
    std::array<net::const_buffer, body_source::max_views + 3> parts;
    std::size_t count = 0;
    if (!head_sent) parts[count++] = net::buffer(message_head.text());
    char size_line[20];
    if (chunked && n > 0) parts[count++] = net::buffer(chunk_size_line(n, size_line));
    for (std::size_t i = 0; i < view_count; ++i) parts[count++] = views[i];
    if (chunked && n > 0) parts[count++] = net::buffer(crlf);
    if (chunked && n == 0) parts[count++] = net::buffer(last_chunk);
    // Bounded by the write timeout: a client that stops reading is dropped. (The deadline is
    // cleared after the write: the wait for the next bytes is bounded by their source.)
    stream.expires_after(timeout);
    auto write_started = std::chrono::steady_clock::now();
    co_await net::async_write(stream, std::span<const net::const_buffer>(parts.data(), count),
                              whole_buffers, net::redirect_error(net::use_awaitable, ec));
    stream.expires_never();
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
