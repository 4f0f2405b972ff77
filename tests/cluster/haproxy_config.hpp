#pragma once
// HAProxy configuration text for the cluster test: the shipped deploy/haproxy/recgate.cfg made
// to run on loopback, the HAProxy config inside the Kubernetes manifests, and the `show stat`
// answer of HAProxy's stats socket. Pure text code: no I/O, no processes.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace cluster_test {

struct loopback_server {
  std::string name;               // e.g. "recgate-0"
  unsigned short port = 0;        // the gateway's listener, where traffic goes
  unsigned short admin_port = 0;  // the admin listener, where health checks go
};

struct loopback_site {
  unsigned short frontend_port = 0;
  std::string stats_socket;  // absolute path of the stats socket
  std::vector<loopback_server> servers;
};

// The shipped config with only its deployment-specific lines changed:
// - `chroot`, `user`, `group` and `daemon` in `global` are dropped (the test runs HAProxy in the
//   foreground, as itself);
// - the `stats socket` path becomes site.stats_socket (its options are kept);
// - the one `bind` becomes `bind 127.0.0.1:frontend_port`;
// - the `server` lines of `backend recgate` become one line per site.servers entry, on
//   127.0.0.1, with ids 1, 2, ... and `port admin_port` for the health checks.
// Everything else (hashing, health checks, retries, timeouts) is kept as it is.
// Throws std::runtime_error when the shipped config lacks one of these lines (or has several
// binds), so the test never silently runs something other than what is shipped.
std::string localize_config(std::string_view shipped, const loopback_site& site);

// The value of a block scalar entry (`key: |`) of a ConfigMap in YAML, de-indented.
// Throws std::runtime_error when the entry is absent.
std::string configmap_entry(std::string_view yaml, std::string_view key);

// The directives of one section (e.g. "defaults", "backend recgate"): trimmed, without comments
// or blank lines, and without `server` lines when skip_servers. Empty when there is no such
// section.
std::vector<std::string> section_lines(std::string_view cfg, std::string_view section,
                                       bool skip_servers);

struct server_state {
  std::string status;        // "UP", "DOWN", "UP 1/2", "DOWN 1/2", "MAINT", ...
  std::string check_status;  // "L7OK", "L4CON", "INI", ...
  long retries = 0;          // wretr: connection attempts retried
  long redispatches = 0;     // wredis: requests sent to another server after a failure
};

// The servers of `backend` in the CSV that `show stat` answers, by server name.
std::map<std::string, server_state> parse_show_stat(std::string_view csv, std::string_view backend);

}  // namespace cluster_test
