#pragma once
// POST /v1/signed-urls {"path": "...", "ttl": "10m", "client": "IP", "bind_format": false}: a
// signed URL for one recording, minted for the calling consumer, which needs the sign scope.
// 201 {"url", "expires"}; 405 for another method, 400 for a body it cannot use, the access
// denials (401, 403, 429), and the minting's own refusals. Include only from .cpp files that
// already use net.hpp.

#include <string>

#include "proxy/endpoints/endpoint_outcome.hpp"
#include "proxy/http/client_stream.hpp"
#include "proxy/state/gateway.hpp"

namespace recgate {

// `client`: the caller's IP address, for the access decision.
net::awaitable<endpoint_outcome> serve_signed_url_request(
    gateway& gw, const live_settings& live, client_stream& stream,
    const http::request<http::string_body>& req, const std::string& request_id,
    const std::string& client, bool keep_alive);

}  // namespace recgate
