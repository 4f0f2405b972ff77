// laml-sim: a simulated SignalWire space serving the LaML "Retrieve a Recording" API, with
// deterministic recordings, per-Sid fault knobs and request counters for tests and benchmarks.

#include <CLI/CLI.hpp>

#include "sim_server.hpp"

int main(int argc, char** argv) {
  laml_sim::server_options options;
  CLI::App app{"laml-sim: a simulated SignalWire space (LaML Recordings API)"};
  app.add_option("--listen", options.listen, "HOST:PORT to listen on (port 0: any free port)")
      ->required();
  app.add_option("--project-id", options.sim.project_id, "the AccountSid the space answers for")
      ->required();
  app.add_option("--api-token", options.sim.api_token, "the Basic-auth password for .json")
      ->required();
  app.add_option("--duration", options.sim.duration, "seconds of audio per normal recording")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "I/O threads")
      ->check(CLI::Range(1U, 256U))
      ->capture_default_str();
  app.add_flag("--quiet", options.quiet, "do not log requests to stderr");
  auto* cert = app.add_option("--tls-cert", options.tls_cert,
                              "PEM certificate chain: serve HTTPS only (needs --tls-key)")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--tls-key", options.tls_key, "PEM private key of --tls-cert")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  CLI11_PARSE(app, argc, argv);
  return laml_sim::run_server(options);
}
