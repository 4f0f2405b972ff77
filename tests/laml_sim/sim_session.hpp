#pragma once
// One client connection of laml-sim. Includes Asio: only sim_server.cpp and sim_session.cpp use it.

#include "sim_handler.hpp"
#include "util/net/net.hpp"

namespace laml_sim {

// Serves requests on `socket` until the peer closes, a timeout, an error, or a fault that ends
// the connection (reset_after, short_by). Prereq: `socket` runs on its own strand; `state`
// outlives the session. Never throws for network errors (they are logged).
net::awaitable<void> run_session(tcp::socket socket, sim_state& state);

// The same over TLS: handshake (bounded by a timeout; a failure is counted in the stats and ends
// the connection), the requests as above with the client's SNI recorded for each, then a TLS
// shutdown. Prereq as above; `tls` outlives the session.
net::awaitable<void> run_tls_session(tcp::socket socket, ssl::context& tls, sim_state& state);

}  // namespace laml_sim
