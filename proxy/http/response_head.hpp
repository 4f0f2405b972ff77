#pragma once
// A response's head rendered by hand into one flat buffer, so that it goes out with the body's
// first bytes in one gather write, without Beast's serializer (whose buffer-sequence machinery
// cost more than the bytes on a cache hit). The writer owns the framing fields: Content-Length,
// Transfer-Encoding and Connection given among the headers are left out, as are fields that
// would break the framing (CR, LF or NUL anywhere; a name that is empty or has ':', space or
// tab). Pure: no I/O.

#include <cstdint>
#include <string>
#include <string_view>

namespace recgate {

class response_head {
 public:
  // "HTTP/1.1 {status} {reason}", then Date and X-Request-Id.
  response_head(unsigned status, std::string_view date, std::string_view request_id);

  // Prereq: before finish().
  void add(std::string_view name, std::string_view value);
  void content_length(std::uint64_t length);
  void chunked();
  // Connection: close when the connection ends after this response; then the blank line.
  void finish(bool keep_alive);

  // The whole head once finished.
  std::string_view text() const { return text_; }

  // The reason phrase of a status code (RFC 9110's), "Unknown" for one it does not name.
  static std::string_view reason(unsigned status);

 private:
  void field(std::string_view name, std::string_view value);
  std::string text_;
};

// The line that opens a chunk of `size` bytes in chunked transfer coding ("{hex}\r\n"), written
// into `out`; returns the view of it.
std::string_view chunk_size_line(std::size_t size, char (&out)[20]);

}  // namespace recgate
