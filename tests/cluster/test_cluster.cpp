// The scale-out setup of deploy/: HAProxy on the shipped config, hashing on the recording Sid,
// in front of three gateways that each cache on their own disk, with laml-sim as SignalWire.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <doctest/doctest.h>
#include <unistd.h>

#include "cluster.hpp"
#include "http_client.hpp"
#include "laml_sim/laml_sim.hpp"
#include "temp_dir.hpp"

namespace {

using namespace cluster_test;
using namespace std::chrono_literals;
using laml_sim::audio_format;

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(RECGATE_SOURCE_DIR) + "/" + relative);
  REQUIRE_MESSAGE(in, "cannot read " << relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `haproxy -c` on a config text; its exit code and output.
std::pair<int, std::string> haproxy_check(const std::string& config) {
  auto haproxy = find_haproxy();
  REQUIRE_MESSAGE(!haproxy.empty(), "haproxy is not installed: run scripts/setup-deps");
  auto path = std::filesystem::temp_directory_path() /
              ("recgate-haproxy-check-" + std::to_string(::getpid()) + ".cfg");
  std::ofstream(path) << config;
  test_support::child_process check({haproxy, "-c", "-f", path.string()});
  auto code = check.wait_exit(10s);
  std::filesystem::remove(path);
  std::string output;
  for (const auto& l : check.lines()) output += l + "\n";
  return {code.value_or(-1), output};
}

// Random-looking v4 Sids, as SignalWire's are (laml-sim serves them with --duration).
std::vector<std::string> make_sids(std::size_t n, std::uint64_t seed) {
  std::vector<std::string> sids;
  for (std::size_t i = 0; i < n; ++i) {
    auto a = laml_sim::splitmix64(seed + 2 * i);
    auto b = laml_sim::splitmix64(seed + 2 * i + 1);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(b >> 52),
                  static_cast<unsigned long long>(b & 0xffffffffffffull));
    sids.emplace_back(buf);
  }
  return sids;
}

// The three ways a client asks for a recording's audio; the SDKs' prefix for one of them.
struct form {
  std::string ext;
  std::string prefix;
  audio_format format;
};
const std::vector<form> forms{{"wav", "/api/laml", audio_format::wav},
                              {"", "", audio_format::wav},
                              {"mp3", "/api/laml", audio_format::mp3}};

std::string expected_body(const std::string& sid, audio_format format) {
  std::string body(laml_sim::body_size(sid, format, sim_duration), '\0');
  laml_sim::fill_body(sid, format, sim_duration, 0, body);
  return body;
}

// Every Sid in every form, 3 × sids.size() requests, the forms rotated so that each form comes
// first for some Sids. Returns a description of each request that did not get the exact body.
std::vector<std::string> request_all(cluster& c, const std::vector<std::string>& sids) {
  std::vector<std::string> failures;
  for (std::size_t round = 0; round < forms.size(); ++round) {
    for (std::size_t i = 0; i < sids.size(); ++i) {
      const auto& f = forms[(i + round) % forms.size()];
      auto target = recording_path(sids[i], f.ext, f.prefix);
      auto r = c.get(target);
      if (r.status != 200 || !r.ok() || r.body != expected_body(sids[i], f.format)) {
        failures.push_back(target + ": status " + std::to_string(r.status) + " " + r.error + " (" +
                           std::to_string(r.body.size()) + " bytes)");
      }
    }
  }
  return failures;
}

// The Sid of a recording path: its last segment without the extension.
std::string sid_of(const std::string& path) {
  auto last = path.substr(path.rfind('/') + 1);
  return last.substr(0, last.find('.'));
}

// Which replicas served each Sid, from their access-log lines after `from[i]`.
std::map<std::string, std::set<std::size_t>> served_by(const cluster& c,
                                                       const std::vector<std::size_t>& from) {
  std::map<std::string, std::set<std::size_t>> out;
  for (std::size_t i = 0; i < c.size(); ++i) {
    auto log = c.access_log(i);
    for (std::size_t k = from[i]; k < log.size(); ++k) out[sid_of(log[k].path)].insert(i);
  }
  return out;
}

struct fetches {
  int wav = 0;  // .wav or no extension: one object in the cache
  int mp3 = 0;
};

// The audio requests that reached laml-sim, per Sid.
std::map<std::string, fetches> upstream_fetches(cluster& c) {
  std::map<std::string, fetches> out;
  const auto stats = c.sim_stats();  // named: a range-for keeps only the outermost temporary
  for (const auto& [path, n] : stats.at("paths").items()) {
    if (path.ends_with(".json")) continue;
    auto& f = out[sid_of(path)];
    (path.ends_with(".mp3") ? f.mp3 : f.wav) += n.get<int>();
  }
  return out;
}

std::string first(const std::vector<std::string>& items) { return items.empty() ? "" : items[0]; }

}  // namespace

TEST_CASE("the shipped HAProxy config runs on loopback with only its addresses changed") {
  const auto shipped = read_source("deploy/haproxy/recgate.cfg");
  CHECK(haproxy_check(shipped).first == 0);

  loopback_site site{
      18080, "/tmp/x/haproxy.sock", {{"recgate-0", 1001, 2001}, {"recgate-1", 1002, 2002}}};
  auto local = localize_config(shipped, site);
  CHECK(local.find("    bind 127.0.0.1:18080\n") != std::string::npos);
  CHECK(local.find("    stats socket /tmp/x/haproxy.sock mode") != std::string::npos);
  CHECK(local.find("    server recgate-0 127.0.0.1:1001 id 1 port 2001\n") != std::string::npos);
  CHECK(local.find("    server recgate-1 127.0.0.1:1002 id 2 port 2002\n") != std::string::npos);
  CHECK(local.find("10.0.0.10") == std::string::npos);
  CHECK(local.find("\n    chroot ") == std::string::npos);
  CHECK(local.find("\n    user ") == std::string::npos);
  // Everything that decides where a request goes is the shipped text.
  const auto shipped_backend = section_lines(shipped, "backend recgate", true);
  CHECK(std::count(shipped_backend.begin(), shipped_backend.end(), "option httpchk GET /readyz") ==
        1);
  CHECK(section_lines(local, "backend recgate", true) == shipped_backend);
  CHECK(section_lines(local, "defaults", false) == section_lines(shipped, "defaults", false));
  CHECK(haproxy_check(local).first == 0);

  std::string no_bind = shipped;
  no_bind.replace(no_bind.find("bind :8080"), 10, "# no bind");
  CHECK_THROWS(localize_config(no_bind, site));
}

TEST_CASE("the Kubernetes HAProxy config hashes and checks like the shipped one") {
  const auto shipped = read_source("deploy/haproxy/recgate.cfg");
  auto k8s = configmap_entry(read_source("deploy/k8s/haproxy.yaml"), "haproxy.cfg");
  const auto shipped_backend = section_lines(shipped, "backend recgate", true);
  REQUIRE_FALSE(shipped_backend.empty());
  CHECK(section_lines(k8s, "backend recgate", true) == shipped_backend);
  CHECK(section_lines(k8s, "defaults", false) == section_lines(shipped, "defaults", false));
  auto servers = section_lines(k8s, "backend recgate", false);
  CHECK(std::count_if(servers.begin(), servers.end(),
                      [](const std::string& l) { return l.starts_with("server "); }) == 3);

  // Valid for HAProxy, with the pod names (resolved at run time) replaced by an address so the
  // check does not wait on DNS.
  std::string checkable;
  std::istringstream lines(k8s);
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find(".svc.cluster.local:8080");
    if (line.find("server recgate-") != std::string::npos && at != std::string::npos) {
      auto start = line.rfind(' ', at) + 1;
      line.replace(start, at + std::string_view(".svc.cluster.local:8080").size() - start,
                   "127.0.0.1:8080");
    }
    checkable += line + "\n";
  }
  REQUIRE(checkable.find("svc.cluster.local") == std::string::npos);
  auto [code, output] = haproxy_check(checkable);
  INFO(output);
  CHECK(code == 0);
}

TEST_CASE("the Kubernetes recgate config requires the admin key; probes and the scrape stay open") {
  const auto yaml = read_source("deploy/k8s/recgate-config.yaml");
  auto config = configmap_entry(yaml, "recgate.toml");
  const auto consumers = configmap_entry(yaml, "consumers.toml");
  test_support::temp_dir tmp("recgate-k8s-");
  // Only what ties it to a pod changes: its addresses go to loopback, its folders to a temporary
  // one; the upstream (RECGATE_UPSTREAM_URL) is a closed loopback port.
  auto replace = [&](const std::string& from, const std::string& to) {
    auto at = config.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "no " << from << " in the shipped config");
    config.replace(at, from.size(), to);
  };
  replace("\"0.0.0.0:8080\"", "\"127.0.0.1:0\"");
  replace("\"0.0.0.0:9090\"", "\"127.0.0.1:0\"");
  replace("/var/lib/recgate/cache", (tmp.path / "cache").string());
  replace("/etc/recgate/consumers.toml", (tmp.path / "consumers.toml").string());
  replace("/var/lib/recgate/revocations", (tmp.path / "revocations").string());
  std::ofstream(tmp.path / "recgate.toml") << config;
  std::ofstream(tmp.path / "consumers.toml") << consumers;

  test_support::child_process gateway({"env", "SIGNALWIRE_API_TOKEN=k8s-test-token",
                                       "RECGATE_UPSTREAM_URL=http://127.0.0.1:1", RECGATE_BIN,
                                       "serve", "--config", (tmp.path / "recgate.toml").string()});
  auto line = gateway.wait_for_line(
      [](std::string_view l) {
        return l.find("recgate: admin listening on") != std::string_view::npos;
      },
      10s);
  REQUIRE(line);
  auto port = static_cast<unsigned short>(std::stoul(line->substr(line->rfind(':') + 1)));
  auto status = [&](const std::string& method, const std::string& target) {
    return test_support::request("127.0.0.1", port, method, target).status;
  };
  // Probes and the scrape: no key.
  CHECK(status("GET", "/healthz") == 200);
  CHECK(status("GET", "/metrics") == 200);
  CHECK(status("GET", "/readyz") == 503);  // answered (the upstream is unreachable), not 401
  // Everything else needs the admin key.
  const std::string recording =
      "720796a0-8ee9-4350-83bd-2d07a3121f1e/00000001-0000-4000-8000-000000000000";
  CHECK(status("GET", "/cache/stats") == 401);
  CHECK(status("DELETE", "/cache/recordings/" + recording) == 401);
  CHECK(status("POST", "/signed-urls/revoke/" + recording) == 401);
}

TEST_CASE(
    "three replicas behind HAProxy: one fetch per recording, and a dead replica's share "
    "moves without touching the others") {
  const auto sids = make_sids(100, 0x5eed0000);
  cluster c(3);

  // 300 requests: every Sid as .wav, without extension (SDK prefix) and .mp3.
  auto failures = request_all(c, sids);
  CHECK_MESSAGE(failures.empty(), failures.size() << " failed, e.g. " << first(failures));
  REQUIRE(c.wait_access_lines(300, 10s));

  auto owners = served_by(c, {0, 0, 0});
  REQUIRE(owners.size() == sids.size());
  std::vector<std::size_t> share(c.size());
  std::vector<std::string> split;
  for (const auto& [sid, replicas] : owners) {
    if (replicas.size() != 1) split.push_back(sid);
    ++share[*replicas.begin()];
  }
  CHECK_MESSAGE(split.empty(), split.size()
                                   << " Sids served by several replicas, e.g. " << first(split));
  MESSAGE("Sids per replica: " << share[0] << " " << share[1] << " " << share[2]);
  for (auto n : share) CHECK(n > 0);

  // One upstream fetch per cached object: 100 WAV (.wav and no extension share one) and 100 MP3.
  auto before = upstream_fetches(c);
  int total = 0;
  std::vector<std::string> refetched;
  for (const auto& sid : sids) {
    auto f = before[sid];
    total += f.wav + f.mp3;
    if (f.wav != 1 || f.mp3 != 1) refetched.push_back(sid);
  }
  CHECK(total == 200);
  CHECK_MESSAGE(refetched.empty(), refetched.size()
                                       << " Sids not fetched exactly once per format, e.g. "
                                       << first(refetched));

  // Kill the replica that owns the most Sids, its health checks paused first: HAProxy goes on
  // sending it requests, as in the seconds before its checks fail. A request for one of its
  // Sids is refused, retried and redispatched to another replica: still no client error. Fresh
  // Sids, so that the accounting of the 100 is left alone.
  const auto victim =
      static_cast<std::size_t>(std::max_element(share.begin(), share.end()) - share.begin());
  const auto victim_name = c.server_name(victim);
  auto answer = c.haproxy_command("disable health recgate/" + victim_name);
  REQUIRE_MESSAGE(answer.find_first_not_of("\n") == std::string::npos, answer);
  c.kill_replica(victim);
  const auto window_sids = make_sids(6, 0x77770000);
  std::size_t window_ok = 0;  // answered, so in an access log
  for (const auto& sid : window_sids) {
    auto r = c.get(recording_path(sid, "wav"));
    CHECK(r.status == 200);
    CHECK(r.body == expected_body(sid, audio_format::wav));
    if (r.status == 200) ++window_ok;
  }
  auto paused = c.servers()[victim_name];
  // "no check": checks paused, HAProxy still sends it its share.
  CHECK(paused.status == "no check");
  CHECK(paused.redispatches > 0);
  MESSAGE(paused.redispatches << " of " << window_sids.size()
                              << " requests redispatched from the dead replica " << victim);
  REQUIRE(c.wait_access_lines(300 + window_ok, 10s));

  // Now let the health checks find out.
  std::vector<std::size_t> log_sizes;
  for (std::size_t i = 0; i < c.size(); ++i) log_sizes.push_back(c.access_log(i).size());
  const auto resumed_at = std::chrono::steady_clock::now();
  answer = c.haproxy_command("enable health recgate/" + victim_name);
  REQUIRE_MESSAGE(answer.find_first_not_of("\n") == std::string::npos, answer);
  REQUIRE(c.wait_servers(
      [&](const cluster::states& s) {
        auto it = s.find(victim_name);
        return it != s.end() && it->second.status.starts_with("DOWN");
      },
      15s));
  MESSAGE("replica " << victim << " DOWN "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - resumed_at)
                            .count()
                     << " ms after its health checks resumed");
  auto states = c.servers();
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i != victim) CHECK(states[c.server_name(i)].status == "UP");
  }

  // All 100 Sids again: no client error, and only the dead replica's Sids go upstream, once.
  failures = request_all(c, sids);
  CHECK_MESSAGE(failures.empty(), failures.size() << " failed, e.g. " << first(failures));
  REQUIRE(c.wait_access_lines(600 + window_ok, 10s));

  auto after_owners = served_by(c, log_sizes);
  REQUIRE(after_owners.size() == sids.size());
  auto after = upstream_fetches(c);
  std::vector<std::string> wrong;
  for (const auto& sid : sids) {
    const auto owner = *owners[sid].begin();
    const auto& now = after_owners[sid];
    const bool moved = owner == victim;
    const int expected = moved ? 2 : 1;
    if (now.size() != 1 || *now.begin() == victim || (!moved && *now.begin() != owner) ||
        after[sid].wav != expected || after[sid].mp3 != expected) {
      wrong.push_back(sid + " (owner " + std::to_string(owner) + ", fetches " +
                      std::to_string(after[sid].wav) + "/" + std::to_string(after[sid].mp3) + ")");
    }
  }
  CHECK_MESSAGE(wrong.empty(), wrong.size()
                                   << " Sids served or fetched wrongly after the failover, e.g. "
                                   << first(wrong));
  // The survivors answered their own Sids from their caches.
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i == victim) continue;
    auto log = c.access_log(i);
    for (std::size_t k = log_sizes[i]; k < log.size(); ++k) {
      if (owners[sid_of(log[k].path)].count(i)) CHECK(log[k].cache == "HIT");
    }
  }
}
