#pragma once
// POST callbacks.path: a recording status callback from SignalWire (or Twilio). Verified with
// status_callback.hpp; a completed recording is queued for prefetch (prefetcher.hpp), and the
// sender gets 204 at once. Include only from .cpp files that already use net.hpp.

#include <string>

#include "proxy/endpoints/endpoint_outcome.hpp"
#include "proxy/http/client_stream.hpp"
#include "proxy/state/gateway.hpp"

namespace recgate {

// Prereq: gw.prefetch is set (callbacks.path is configured).
net::awaitable<endpoint_outcome> serve_status_callback(gateway& gw, const live_settings& live,
                                                       client_stream& stream,
                                                       const http::request<http::string_body>& req,
                                                       const std::string& request_id,
                                                       bool keep_alive);

}  // namespace recgate
