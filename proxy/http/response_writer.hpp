#pragma once
// Writing responses to a client connection: small JSON errors, and bodies streamed from a
// body_source with a bounded buffer. Every response carries Date and X-Request-Id; its head is
// rendered by hand (response_head) and goes out with the first body bytes in one gather write.
// Include only from .cpp files that already use net.hpp.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/body_source.hpp"
#include "config/config.hpp"
#include "proxy/http/client_stream.hpp"
#include "util/net/net.hpp"

namespace recgate {
class token_bucket;
}

namespace recgate {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct write_result {
  std::uint64_t body_bytes = 0;
  bool complete = false;  // false: the connection must be closed, the body is incomplete
  // Nothing was written: the body could not be read from its first byte (a stored body damaged,
  // or purged meanwhile). The caller answers the request another way.
  bool unread = false;
};

// What every answer to one request needs, whatever its body: the connection it goes on, the
// request's id, whether the request was a HEAD (headers only), whether the connection stays
// open after it, and how long a write may wait for the client. Small: passed by value.
struct reply {
  client_stream& stream;
  std::string_view request_id;
  bool head = false;
  bool keep_alive = false;
  config::duration timeout = std::chrono::seconds(30);
};

// A complete JSON body with this status.
net::awaitable<write_result> write_json(reply to, unsigned status, std::string body,
                                        const header_list& extra = {});

// Status and headers with no body and no Content-Length (304 Not Modified, 204 No Content).
net::awaitable<write_result> write_empty(reply to, unsigned status, const header_list& headers);

// A JSON error in the upstream's shape.
net::awaitable<write_result> write_error(reply to, unsigned status, std::string_view message,
                                         const header_list& extra = {});

// Status and headers, then the body from source as it arrives, through one buffer of
// buffer_bytes. Content-Length when the source knows it, chunked otherwise; a HEAD gets the
// source's Content-Length. With a budget, the body is paced to the consumer's bytes a second.
net::awaitable<write_result> write_streamed(reply to, unsigned status, const header_list& headers,
                                            body_source& source, std::size_t buffer_bytes,
                                            token_bucket* budget = nullptr);

}  // namespace recgate
