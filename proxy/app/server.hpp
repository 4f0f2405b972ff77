#pragma once
// Runs the gateway: listens, serves until SIGINT or SIGTERM, then returns the exit code.
// SIGHUP reloads config_path. SIGTERM/SIGINT drain: the listeners close, requests in flight
// have server.drain_timeout to finish, then the store is flushed and closed; a second signal
// stops at once.

#include <string>

#include "config/config.hpp"

namespace recgate {

// Exit codes: 0 after a drained stop; 1 when a listener, the TLS certificates, the upstream
// trust store or the cache cannot be set up (the message is logged); 3 when the drain deadline
// cut requests off. (main: 2 for command-line errors.)
int run_server(const config::config& cfg, const std::string& config_path);

}  // namespace recgate
