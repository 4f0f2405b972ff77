#pragma once
// Writing responses to a client connection: small JSON errors, and bodies streamed from a
// body_source with a bounded buffer. Include only from .cpp files that already use net.hpp.

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

// Headers every response carries: Date, X-Request-Id.
void set_common_headers(http::fields& fields, std::string_view request_id);

// Writes a complete JSON body with this status. HEAD gets the headers only.
net::awaitable<write_result> write_json(client_stream& stream, unsigned status, std::string body,
                                        bool head, bool keep_alive, std::string_view request_id,
                                        const header_list& extra, config::duration timeout);

// Writes status and headers with no body and no Content-Length (304 Not Modified).
net::awaitable<write_result> write_empty(client_stream& stream, unsigned status,
                                         const header_list& headers, bool keep_alive,
                                         std::string_view request_id, config::duration timeout);

// Writes a JSON error response in the upstream's shape. HEAD gets the headers only.
net::awaitable<write_result> write_error(client_stream& stream, unsigned status,
                                         std::string_view message, bool head, bool keep_alive,
                                         std::string_view request_id, const header_list& extra = {},
                                         config::duration timeout = std::chrono::seconds(30));

// Writes status and headers, then the body from source as it arrives, through one buffer of
// buffer_bytes. Content-Length when the source knows it, chunked otherwise. HEAD writes the
// headers only (with the source's Content-Length). With a budget, the body is paced to the
// consumer's bytes-per-second allowance.
net::awaitable<write_result> write_streamed(client_stream& stream, unsigned status,
                                            const header_list& headers, body_source& source,
                                            bool head, bool keep_alive, std::string_view request_id,
                                            std::size_t buffer_bytes, config::duration timeout,
                                            token_bucket* budget = nullptr);

}  // namespace recgate
