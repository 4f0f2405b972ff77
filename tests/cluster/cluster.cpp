#include "cluster.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "artifacts.hpp"
#include "digest.hpp"
#include "read_file.hpp"

namespace cluster_test {
namespace {

using namespace std::chrono_literals;

constexpr const char* api_token = "PT-sim-token-3c1d5e7f9a0b2c4d6e8f";
constexpr const char* consumer_key = "rgk_cluster-consumer-key-8d2f6a1c93e0b475";

using test_support::read_file;
using test_support::sha256_hex;

// The port of a "... listening on HOST:PORT" line, waited for.
unsigned short listening_port(test_support::child_process& p, std::string_view prefix,
                              const std::string& what) {
  auto line = p.wait_for_line(
      [&](std::string_view l) {
        return l.starts_with(prefix) && l.find("listening on") != std::string_view::npos;
      },
      10s);
  if (!line) throw std::runtime_error(what + " did not start listening");
  return static_cast<unsigned short>(std::stoul(line->substr(line->rfind(':') + 1)));
}

// A port that was free a moment ago: HAProxy needs an explicit one. start_haproxy retries if
// another process takes it in between.
unsigned short free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind an ephemeral port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One command on HAProxy's stats socket; its whole answer, or "" when it does not answer.
std::string stats_command(const std::filesystem::path& socket_path, const std::string& command) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const auto path = socket_path.string();
  if (path.size() >= sizeof addr.sun_path) {
    ::close(fd);
    throw std::runtime_error("stats socket path too long: " + path);
  }
  path.copy(addr.sun_path, path.size());
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string line = command + "\n";
    if (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
      // Without `prompt` HAProxy answers one command and closes the connection.
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
        answer.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return answer;
}

}  // namespace

std::string recording_path(const std::string& sid, const std::string& ext,
                           const std::string& prefix) {
  return prefix + "/2010-04-01/Accounts/" + project_id + "/Recordings/" + sid +
         (ext.empty() ? "" : "." + ext);
}

std::string find_haproxy() {
  for (const char* candidate : {"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "";
  while (!dirs.empty()) {
    auto dir = dirs.substr(0, dirs.find(':'));
    auto candidate = std::string(dir) + "/haproxy";
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    dirs.remove_prefix(std::min(dirs.size(), dir.size() + 1));
  }
  return {};
}

cluster::cluster(std::size_t replicas) {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("recgate-cluster-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
  try {
    start_sim();
    start_replicas(replicas);
    start_haproxy();
  } catch (...) {
    haproxy_.reset();
    replicas_.clear();
    sim_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

cluster::~cluster() {
  haproxy_.reset();
  // For the secret sweep: what each gateway printed (responses through HAProxy are recorded as
  // they arrive).
  test_support::artifacts::unwatch_port(haproxy_port_);
  for (auto& r : replicas_) {
    r.process->terminate();
    test_support::artifacts::save_output("recgate-replica", r.process->lines());
  }
  replicas_.clear();
  sim_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void cluster::start_sim() {
  sim_ = std::make_unique<test_support::child_process>(std::vector<std::string>{
      LAML_SIM_BIN, "--listen", "127.0.0.1:0", "--project-id", project_id, "--api-token", api_token,
      "--duration", std::to_string(sim_duration), "--quiet"});
  sim_port_ = listening_port(*sim_, "laml-sim:", "laml-sim");
}

void cluster::start_replicas(std::size_t n) {
  std::ofstream(dir_ / "token") << api_token << "\n";
  test_support::artifacts::add_secret(api_token);
  // What each gateway sends upstream: "Basic " + base64(project_id:api_token).
  test_support::artifacts::add_secret(test_support::basic_authorization(project_id, api_token)
                                          .substr(std::string("Basic ").size()));
  test_support::artifacts::add_secret(consumer_key);
  // Start them all, then wait for each: their start-ups overlap.
  for (std::size_t i = 0; i < n; ++i) {
    replica r;
    r.dir = dir_ / ("replica-" + std::to_string(i));
    std::filesystem::create_directories(r.dir);
    // One thread each: three gateways, HAProxy and laml-sim share the machine's cores.
    std::ofstream(r.dir / "recgate.toml")
        << "[server]\nlisten = \"127.0.0.1:0\"\nthreads = 1\n"
        << "[upstream]\nbase_url = \"http://127.0.0.1:" << sim_port_ << "\"\n"
        << "project_id = \"" << project_id << "\"\n"
        << "api_token_env = \"RECGATE_TEST_UNSET_TOKEN\"\n"
        << "api_token_file = \"" << (dir_ / "token").string() << "\"\n"
        << "[cache]\npath = \"" << (r.dir / "cache").string() << "\"\n"
        << "[admin]\nlisten = \"127.0.0.1:0\"\n"
        << "[log]\nlevel = \"info\"\nformat = \"json\"\n"
        << "[[consumers]]\nid = \"cluster-test\"\nscopes = [\"audio\", \"metadata\"]\n"
        << "accounts = [\"" << project_id << "\"]\nkey_sha256 = \"" << sha256_hex(consumer_key)
        << "\"\n";
    r.process = std::make_unique<test_support::child_process>(std::vector<std::string>{
        RECGATE_BIN, "serve", "--config", (r.dir / "recgate.toml").string()});
    replicas_.push_back(std::move(r));
  }
  for (auto& r : replicas_) {
    r.port = listening_port(*r.process, "recgate: listening", "recgate");
    r.admin_port =
        listening_port(*r.process, "recgate: admin listening", "recgate's admin listener");
  }
}

void cluster::start_haproxy() {
  const auto haproxy = find_haproxy();
  if (haproxy.empty()) throw std::runtime_error("haproxy is not installed: run scripts/setup-deps");
  const auto shipped =
      read_file(std::filesystem::path(RECGATE_SOURCE_DIR) / "deploy/haproxy/recgate.cfg");
  loopback_site site;
  site.stats_socket = (dir_ / "haproxy.sock").string();
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    site.servers.push_back({server_name(i), replicas_[i].port, replicas_[i].admin_port});
  }
  // The frontend port is picked by binding port 0 and letting go of it: if something else takes
  // it before HAProxy binds, HAProxy exits and we try another.
  for (int attempt = 1;; ++attempt) {
    site.frontend_port = free_loopback_port();
    std::ofstream(dir_ / "haproxy.cfg") << localize_config(shipped, site);
    haproxy_ = std::make_unique<test_support::child_process>(
        std::vector<std::string>{haproxy, "-db", "-f", (dir_ / "haproxy.cfg").string()});
    haproxy_port_ = site.frontend_port;
    test_support::artifacts::watch_port(haproxy_port_);
    // Ready once its health checks have passed for every replica (they start within `inter`).
    bool up = wait_servers(
        [&](const states& s) {
          if (s.size() != replicas_.size()) return false;
          for (const auto& [name, state] : s) {
            if (state.status != "UP" || state.check_status != "L7OK") return false;
          }
          return true;
        },
        15s);
    if (up) return;
    bool exited = haproxy_->wait_exit(0ms).has_value();
    std::string output;
    for (const auto& l : haproxy_->lines()) output += l + "\n";
    haproxy_.reset();
    if (!exited || attempt == 3) {
      throw std::runtime_error("HAProxy did not see every replica UP:\n" + output);
    }
  }
}

test_support::http_result cluster::get(const std::string& target) {
  return test_support::request("127.0.0.1", haproxy_port_, "GET", target,
                               {{"Authorization", std::string("Bearer ") + consumer_key}});
}

nlohmann::json cluster::sim_stats() {
  auto r = test_support::request("127.0.0.1", sim_port_, "GET", "/__sim/requests");
  if (r.status != 200) throw std::runtime_error("sim stats: " + r.error);
  return nlohmann::json::parse(r.body);
}

void cluster::kill_replica(std::size_t i) {
  ::kill(replicas_.at(i).process->pid(), SIGKILL);
  replicas_[i].process->terminate();  // reaps it
}

std::string cluster::haproxy_command(const std::string& command) {
  return stats_command(dir_ / "haproxy.sock", command);
}

cluster::states cluster::servers() {
  return parse_show_stat(stats_command(dir_ / "haproxy.sock", "show stat"), "recgate");
}

bool cluster::wait_servers(const std::function<bool(const states&)>& done,
                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done(servers())) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Waits for HAProxy's exit as the pause between polls: a crashed HAProxy ends the wait.
    if (haproxy_->wait_exit(50ms)) return false;
  }
}

std::vector<access_entry> cluster::access_log(std::size_t i) const {
  std::vector<access_entry> out;
  for (const auto& line : replicas_.at(i).process->lines()) {
    if (!line.starts_with('{')) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("log", "") != "access") continue;
    out.push_back({j.value("path", ""), j.value("status", 0u), j.value("cache", "")});
  }
  return out;
}

bool cluster::wait_access_lines(std::size_t total, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < replicas_.size(); ++i) seen += access_log(i).size();
    if (seen >= total) return seen == total;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);  // the poll interval; the logs flush once a second
  }
}

}  // namespace cluster_test
