#pragma once
// The laml-sim process: listener, signal handling and the I/O threads. No Asio in this header.

#include <string>

#include "sim_handler.hpp"

namespace laml_sim {

struct server_options {
  std::string listen = "127.0.0.1:0";  // HOST:PORT, [v6]:PORT; port 0 picks a free port
  unsigned threads = 2;                // threads running the one io_context
  bool quiet = false;                  // no request log on stderr
  std::string tls_cert;                // PEM chain; with tls_key set too, the listener is TLS only
  std::string tls_key;                 // PEM private key of tls_cert
  sim_config sim;
};

// Binds, prints exactly one line "laml-sim: listening on HOST:PORT" (the bound port) to stdout,
// then serves until SIGINT or SIGTERM: plain HTTP, or with tls_cert and tls_key, TLS 1.2+ only.
// Returns the exit code: 0 after a signal, 2 when the address cannot be resolved or bound or the
// certificate or key cannot be loaded (with a message on stderr).
int run_server(const server_options& options);

}  // namespace laml_sim
