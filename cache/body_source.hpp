#pragma once
// A response body that arrives over time: an upstream exchange, a cached object, or a fill in
// progress. Whoever sends a body to a client reads any of them the same way.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "cache/async.hpp"

namespace recgate {

class body_source {
 public:
  virtual ~body_source() = default;

  // Total length when known in advance (Content-Length), nullopt for a body of unknown length.
  virtual std::optional<std::uint64_t> content_length() const = 0;

  // Fills up to buffer.size() bytes. Returns the count, 0 at the end of the body. A failure
  // (reset, short body, timeout, a fill that failed) is reported in ec; the body is then
  // incomplete and the response must not be finished as if it were whole.
  virtual net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                                boost::system::error_code& ec) = 0;
};

}  // namespace recgate
