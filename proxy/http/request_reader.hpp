#pragma once
// Reads requests off a client connection into memory that no input can grow past its bound, as
// nginx's large_client_header_buffers do: the head is collected in one buffer of at most
// max_header_bytes and handed to Beast's parser only once it is complete, so a client sending an
// endless or oversized head costs the gateway that buffer and nothing more (no parsed fields, no
// growth), and is refused as soon as the bound is passed. Include only from .cpp files that
// already use net.hpp.
//
// Per connection: one reader, kept across the connection's requests (bytes a client pipelined
// after a request stay in it for the next one).

#include <cstddef>
#include <string>

#include "config/config.hpp"
#include "proxy/http/client_stream.hpp"
#include "util/net/net.hpp"

namespace recgate {

enum class read_status {
  ok,              // a whole request is in the parser
  closed,          // the client closed, reset or went quiet: a normal end, nothing to answer
  line_too_long,   // 414: no request line within max_header_bytes
  head_too_large,  // 431: the head did not end within max_header_bytes
  body_too_large,  // 413
  invalid,         // 400: not HTTP/1.1 that the gateway accepts (detail says why)
};

struct read_result {
  read_status status = read_status::closed;
  std::string detail;  // for `invalid`: the parser's reason
};

struct read_limits {
  std::size_t max_header_bytes = 8192;  // request line and header fields, CRLFs included
  std::size_t max_body_bytes = 8192;
  config::duration idle_timeout{};  // a kept-alive connection, until its next request begins
  config::duration
      header_timeout{};  // from then (or from the connection's start) to a whole request
};

class request_reader {
 public:
  // The head's search starts at offset 0 of what has not been consumed yet.
  request_reader() = default;

  // Reads the next request into `parser` (a fresh one). `first`: the connection's first request,
  // whose head has header_timeout from now; later ones may first idle for idle_timeout.
  // Never throws for anything a client sends.
  net::awaitable<read_result> read(client_stream& stream,
                                   http::request_parser<http::string_body>& parser,
                                   const read_limits& limits, bool first);

  // Whether bytes the client sent after the last request read are waiting (pipelined input).
  bool has_unread() const { return buffer_.size() > 0; }

 private:
  // Reads more into the buffer, at most `room` bytes; false on any read error.
  net::awaitable<bool> read_more(client_stream& stream, std::size_t room);

  beast::flat_buffer buffer_;
};

// Closes a connection whose peer may still be sending without destroying what was written to it:
// FIN first, then input is read and dropped until the peer has been quiet for 100 ms, 1 s has
// passed, 64 KiB were dropped or 8 reads were made, then the socket closes (nginx's lingering
// close, with a smaller budget: a client that keeps sending is not worth more). Closing over
// unread input would make the kernel send a reset, which can destroy the last answer before the
// client reads it. Below TLS, like the rest of a connection that ends this way. Costs no memory
// per connection (the dropped bytes share one buffer).
net::awaitable<void> linger_close(client_stream& stream);

}  // namespace recgate
