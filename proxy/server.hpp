#pragma once
// Runs the gateway: listens, serves until SIGINT or SIGTERM, then returns the exit code.

#include "config/config.hpp"

namespace recgate {

// Exit codes: 0 after a signal-initiated stop; 1 when the listener or the upstream trust store
// cannot be set up (the message is logged).
int run_server(const config::config& cfg);

}  // namespace recgate
