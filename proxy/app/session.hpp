#pragma once
// One client connection: HTTP/1.1 with keep-alive, read limits and timeouts, the Host check,
// routing and access control, then an endpoint (proxy/endpoints/) answers. Include only from
// .cpp files that already use net.hpp.

#include <memory>

#include "proxy/state/gateway.hpp"

namespace recgate {

// Serves requests on socket until the client closes, a timeout, or an error. Runs on the
// socket's executor (a strand of its own), so the session's state needs no locks.
net::awaitable<void> run_session(tcp::socket socket, std::shared_ptr<gateway> gw);

// The same over TLS: handshake (with the gateway's current TLS context), the client
// certificate's identities when one was verified, then the requests; close_notify at the end.
net::awaitable<void> run_tls_session(tcp::socket socket, std::shared_ptr<gateway> gw);

}  // namespace recgate
