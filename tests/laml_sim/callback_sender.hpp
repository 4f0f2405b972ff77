#pragma once
// Sends a status callback (callbacks.hpp) over plain HTTP: one connection, one POST, the
// answer read whole. Includes Asio: only sim_session.cpp and callback_sender.cpp use it.

#include <string>

#include "callbacks.hpp"
#include "util/net/net.hpp"

namespace laml_sim {

struct callback_delivery {
  unsigned status = 0;  // the receiver's status; 0 when it did not answer
  std::string body;     // its answer's body (up to 64 KiB)
  std::string error;    // with status 0: what failed
};

// POSTs c.body as application/x-www-form-urlencoded to c.host:c.port c.target, with c's
// signature header, within 30 s. Never throws for network errors.
net::awaitable<callback_delivery> send_callback(const outgoing_callback& c);

}  // namespace laml_sim
