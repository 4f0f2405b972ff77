#pragma once
// A recgate cluster on loopback, as deploy/ describes it: one laml-sim, N gateways (each with
// its own config, cache folder and admin listener, on ephemeral ports) and HAProxy in front,
// running the shipped deploy/haproxy/recgate.cfg localized by localize_config. Everything lives
// in a fresh temporary folder that the destructor removes.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "haproxy_config.hpp"
#include "http_client.hpp"

namespace cluster_test {

inline constexpr const char* project_id = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
inline constexpr unsigned sim_duration = 1;  // seconds of audio for a normal Sid

// The path of a recording under one of the two prefixes ("/api/laml" or "").
std::string recording_path(const std::string& sid, const std::string& ext,
                           const std::string& prefix = "/api/laml");

// One access-log line of a gateway.
struct access_entry {
  std::string path;
  unsigned status = 0;
  std::string cache;  // HIT, MISS, STREAM, ...
};

// The HAProxy program: /usr/sbin/haproxy or the first on PATH; empty when there is none.
std::string find_haproxy();

class cluster {
 public:
  using states = std::map<std::string, server_state>;

  // Starts everything and returns once HAProxy's health checks see every replica UP. Throws
  // std::runtime_error when a process does not start.
  explicit cluster(std::size_t replicas);
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  std::size_t size() const { return replicas_.size(); }
  // HAProxy's name for replica i.
  std::string server_name(std::size_t i) const { return "recgate-" + std::to_string(i); }

  // GET through HAProxy with the consumer's key.
  test_support::http_result get(const std::string& target);
  // laml-sim's GET /__sim/requests.
  nlohmann::json sim_stats();

  // SIGKILL, as in a crash; then reaps it. Its output stays readable.
  void kill_replica(std::size_t i);

  // One command on HAProxy's stats socket (e.g. "disable health recgate/recgate-1"); its answer.
  std::string haproxy_command(const std::string& command);
  // HAProxy's view of backend recgate (`show stat` on the stats socket); empty if it did not
  // answer.
  states servers();
  // Polls servers() until `done` holds (true) or `timeout` passes (false).
  bool wait_servers(const std::function<bool(const states&)>& done,
                    std::chrono::milliseconds timeout);

  // The access-log lines replica i has printed so far (its log is flushed once a second).
  std::vector<access_entry> access_log(std::size_t i) const;
  // Polls until the replicas have printed `total` access lines between them, or `timeout`.
  bool wait_access_lines(std::size_t total, std::chrono::milliseconds timeout) const;

 private:
  struct replica {
    std::filesystem::path dir;
    std::unique_ptr<test_support::child_process> process;
    unsigned short port = 0;
    unsigned short admin_port = 0;
  };

  void start_sim();
  void start_replicas(std::size_t n);
  void start_haproxy();

  std::filesystem::path dir_;
  std::unique_ptr<test_support::child_process> sim_;
  unsigned short sim_port_ = 0;
  std::vector<replica> replicas_;
  std::unique_ptr<test_support::child_process> haproxy_;
  unsigned short haproxy_port_ = 0;
};

}  // namespace cluster_test
