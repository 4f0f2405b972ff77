#pragma once
// Answers one routed, authenticated recording request. Audio goes through the cache when it is
// on (hit, or a fill to join or start); metadata, and audio without a cache, straight to the
// upstream. The only code that knows both HTTP and the cache.
// Include only from .cpp files that already use net.hpp.

#include <string>

#include "proxy/client_stream.hpp"
#include "proxy/gateway.hpp"
#include "proxy/response_writer.hpp"
#include "proxy/recording_request.hpp"
#include "proxy/representation.hpp"

namespace recgate {

struct handler_outcome {
  unsigned status = 0;
  std::uint64_t bytes = 0;
  unsigned upstream_status = 0;
  bool keep_alive = false;  // false when the response was cut short
  std::string cache = "-";  // HIT, MISS, STREAM; "-" when the cache was not involved
};

// `live`: the request's settings snapshot, which must outlive the call.
net::awaitable<handler_outcome> serve_recording(gateway& gw, const live_settings& live,
                                                client_stream& client,
                                                const recording_request& request,
                                                const conditional_headers& conditions,
                                                const std::string& request_id, bool keep_alive,
                                                byte_budget* budget = nullptr,
                                                const header_list& audio_extra = {});

}  // namespace recgate
