#pragma once
// POST callbacks.path: a recording status callback from SignalWire (or Twilio). Verified with
// status_callback.hpp; a completed recording is queued for prefetch (prefetcher.hpp), and the
// sender gets 204 at once. Include only from .cpp files that already use net.hpp.

#include <string>

#include "proxy/client_stream.hpp"
#include "proxy/gateway.hpp"

namespace recgate {

struct callback_outcome {
  unsigned status = 0;
  std::uint64_t bytes = 0;
  bool keep_alive = false;
  std::string decision;  // for the access log: "accepted", "bad signature", ...
};

// Prereq: gw.prefetch is set (callbacks.path is configured).
net::awaitable<callback_outcome> serve_status_callback(gateway& gw, const live_settings& live,
                                                       client_stream& stream,
                                                       const http::request<http::string_body>& req,
                                                       const std::string& request_id,
                                                       bool keep_alive);

}  // namespace recgate
