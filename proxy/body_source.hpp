#pragma once
// A response body that arrives over time. The upstream exchange is one today; the cache's readers
// will be others, so the session streams any of them the same way.
// Include only from .cpp files that already use net.hpp.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "proxy/net.hpp"

namespace recgate {

class body_source {
 public:
  virtual ~body_source() = default;

  // Total length when known in advance (Content-Length), nullopt for a body of unknown length.
  virtual std::optional<std::uint64_t> content_length() const = 0;

  // Fills up to buffer.size() bytes. Returns the count, 0 at the end of the body. A failure
  // (reset, short body, timeout) is reported in ec; the body is then incomplete and the
  // response must not be finished as if it were whole.
  virtual net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                                beast::error_code& ec) = 0;
};

}  // namespace recgate
