#pragma once
// A running laml-sim and recgate pair on ephemeral loopback ports, configured through a real
// TOML file in a fresh temporary folder. Each waits for the other's "listening on" line.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "digest.hpp"
#include "http_client.hpp"

namespace gateway_test {

inline constexpr const char* project_id = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
inline constexpr const char* api_token = "PT-sim-token-9f8e7d6c5b4a39281706";
inline constexpr const char* consumer_key = "rgk_test-consumer-key-5c2b9a7e41d03f86";
inline constexpr unsigned sim_duration = 2;  // seconds of audio for a normal Sid

using headers = std::vector<std::pair<std::string, std::string>>;

// Hex SHA-256, as key_sha256 wants it. What it hashes is a consumer key: it is listed as a secret
// for the secret sweep (tests/support/artifacts.hpp), like every secret a stack configures.
std::string sha256_hex(std::string_view key);

// The Bearer header of the configured consumer.
headers with_key(headers extra = {});

// One more [[consumers]] entry (for stack_options::extra_consumers): every account, `scope`,
// the key `key` (Bearer key).
std::string consumer_entry(const std::string& id, const std::string& scope, const std::string& key);

struct stack_options {
  unsigned threads = 2;                      // server.threads
  std::string extra_server;                  // TOML lines appended to [server]
  std::string extra_upstream;                // TOML lines appended to [upstream]
  std::string upstream_idle_timeout = "2s";  // upstream.idle_timeout (also a stalled body's limit)
  std::string upstream_header_timeout =
      "1s";                             // upstream.header_timeout (the response head's limit)
  std::vector<std::string> sim_args;    // more laml-sim arguments, e.g. --tls-cert F --tls-key F
  unsigned sim_seconds = sim_duration;  // laml-sim --duration (expected_body assumes the default)
  // When set (e.g. "https://localhost"), base_url is this + ":" + the simulator's port.
  std::string upstream_scheme_host;
  // When set, the whole base_url (e.g. "http://recgate-test.invalid:1"): an upstream other than
  // the stack's simulator.
  std::string upstream_url;
  bool cache = false;      // a RocksDB cache in the stack's folder
  std::string cache_path;  // with cache: this folder instead (on a small filesystem, say)
  // Words before the gateway's command line, e.g. {"setpriv", "--reuid=65534", ...} to run it
  // as another user.
  std::vector<std::string> gateway_prefix;
  std::string extra_cache;  // TOML lines appended to [cache]
  // TOML tables before the consumers (e.g. [access]); "@SIM_PORT@" becomes the simulator's port.
  std::string extra_config;
  std::string extra_admin;      // TOML lines appended to [admin]
  std::string extra_consumers;  // more [[consumers]] entries after the default one
  bool tls = false;             // extra_config has a [tls] table: wait for its listener too
};

class stack {
 public:
  explicit stack(stack_options options = {});
  ~stack();

  test_support::http_result get(const std::string& target, headers h = with_key(),
                                const std::string& method = "GET");
  // Straight to the simulator, with the project's credentials on .json.
  test_support::http_result sim_get(const std::string& target);
  nlohmann::json sim_stats();
  void sim_fault(const nlohmann::json& rule);

  void stop_sim() { sim_->terminate(); }
  void sim_clear_faults();
  // Stops the gateway (SIGTERM) and starts it again on the same config and cache folder; the
  // port changes.
  void restart_gateway();
  // SIGKILL: no shutdown code runs, as in a crash. Then starts it again, like restart_gateway.
  void crash_and_restart_gateway();
  // Stops the gateway and returns everything it printed.
  std::vector<std::string> stop_gateway();
  // Everything the running gateway (since its last start) has printed so far.
  std::vector<std::string> gateway_lines() const { return gateway_->lines(); }
  // Waits for the n-th gateway output line (1-based) that contains `text`.
  bool wait_gateway_output(const std::string& text, int n = 1,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for a gateway output line that contains every one of `texts`.
  bool wait_gateway_line(const std::vector<std::string>& texts,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Rewrites upstream.base_url in the config and restarts the gateway (same cache folder).
  void set_upstream(const std::string& base_url);

  unsigned short gateway_port() const { return gateway_port_; }
  // The TLS listener's port, when the config has [tls] (stack_options.tls).
  unsigned short tls_port() const { return tls_port_; }
  // Sends a signal to the gateway process (SIGHUP: reload; SIGTERM: drain and stop).
  void signal_gateway(int sig);
  // Waits for the gateway to exit; its exit code, or -1 on timeout.
  int wait_gateway_exit(std::chrono::milliseconds timeout);
  unsigned short admin_port() const { return admin_port_; }
  // A request to the admin listener.
  test_support::http_result admin(const std::string& method, const std::string& target);
  std::filesystem::path config_path() const { return dir_ / "recgate.toml"; }
  unsigned short sim_port() const { return sim_port_; }
  int gateway_pid() const { return gateway_->pid(); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void start_gateway();
  // Hands the stopped gateway's output to the secret sweep and stops watching its ports.
  void save_gateway_output();

  std::filesystem::path dir_;
  std::unique_ptr<test_support::child_process> sim_;
  std::unique_ptr<test_support::child_process> gateway_;
  unsigned short sim_port_ = 0;
  unsigned short gateway_port_ = 0;
  unsigned short admin_port_ = 0;
  unsigned short tls_port_ = 0;
  bool tls_ = false;
  std::vector<std::string> gateway_prefix_;
  bool output_saved_ = true;  // the current gateway's output went to the artifacts already
};

std::string recording_path(const std::string& sid, const std::string& ext,
                           const std::string& prefix = "/api/laml");

// Asserts (doctest) a JSON error in the upstream's shape with this status.
void check_json_error(const test_support::http_result& r, unsigned status);

// Peak resident memory (VmHWM) of a process, in KiB.
long peak_rss_kib(int pid);

// What the simulator serves for `sid` whole: its audio ("wav" or "", "mp3") or its metadata
// ("json").
std::string expected_body(const std::string& sid, const std::string& ext = "wav");

// How many requests for `path` (a recording_path) the simulator has seen: now, or in a
// sim_stats() snapshot.
long upstream_fetches(stack& s, const std::string& path);
long upstream_fetches(const nlohmann::json& sim_stats, const std::string& path);

// A client can hold the whole body a moment before the fill commits it (the last bytes come from
// memory): until then a request joins the fill (STREAM). Waits, by HEAD requests, up to 10 s for
// the commit; REQUIREs the HIT and returns that answer.
test_support::http_result wait_for_hit(stack& s, const std::string& path);

// The gateway's /metrics as series (name and labels, as printed) -> value. REQUIREs a 200 in the
// Prometheus text format 0.0.4 and checks (doctest) every line: each sample follows a # TYPE line
// of its family. A series not printed reads as 0 through operator[].
std::map<std::string, double> scrape(stack& s);

// Polls /metrics every 10 ms until `done(value of series)` (0 while the series is absent) holds;
// false, with a MESSAGE naming the series and its last value, when `timeout` passes first.
// For a value that moves after the event the test can see (a fill giving up after the client's
// answer); a value final when its log line appears is read once instead.
bool wait_metric(stack& s, const std::string& series, const std::function<bool(double)>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(15));
// Conditions for wait_metric.
inline std::function<bool(double)> at_least(double v) {
  return [v](double x) { return x >= v; };
}
inline std::function<bool(double)> above(double v) {
  return [v](double x) { return x > v; };
}
inline std::function<bool(double)> exactly(double v) {
  return [v](double x) { return x == v; };
}

// Runs a command to its end and returns its output (stdout and stderr). Fails the test unless it
// exits 0 within `timeout`.
std::string run(const std::vector<std::string>& argv,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace gateway_test
