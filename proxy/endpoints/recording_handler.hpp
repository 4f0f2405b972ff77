#pragma once
// Answers one routed, authenticated recording request. Audio goes through the cache when it is
// on (hit, or a fill to join or start); metadata, and audio without a cache, straight to the
// upstream. The only code that knows both HTTP and the cache.
// Include only from .cpp files that already use net.hpp.

#include <string>

#include "proxy/endpoints/endpoint_outcome.hpp"
#include "proxy/http/client_stream.hpp"
#include "proxy/http/response_writer.hpp"
#include "proxy/policy/range_plan.hpp"
#include "proxy/policy/recording_request.hpp"
#include "proxy/state/gateway.hpp"

namespace recgate {

// `live`: the request's settings snapshot, which must outlive the call. What happened (status,
// bytes, cache, project...) is recorded in `out`.
net::awaitable<void> serve_recording(gateway& gw, const live_settings& live, client_stream& client,
                                     const recording_request& request,
                                     const conditional_headers& conditions,
                                     const std::string& request_id, bool keep_alive,
                                     token_bucket* budget, const header_list& audio_extra,
                                     endpoint_outcome& out);

}  // namespace recgate
