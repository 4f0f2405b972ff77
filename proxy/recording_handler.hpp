#pragma once
// Answers one routed, authenticated recording request. Audio and metadata both come from the
// upstream today; the cache will sit between this handler and the upstream client, handing back
// a body_source of its own. Include only from .cpp files that already use net.hpp.

#include <string>

#include "proxy/gateway.hpp"
#include "proxy/recording_request.hpp"

namespace recgate {

struct handler_outcome {
  unsigned status = 0;
  std::uint64_t bytes = 0;
  unsigned upstream_status = 0;
  bool keep_alive = false;  // false when the response was cut short
};

net::awaitable<handler_outcome> serve_recording(gateway& gw, beast::tcp_stream& client,
                                                const recording_request& request,
                                                const std::string& request_id, bool keep_alive);

}  // namespace recgate
