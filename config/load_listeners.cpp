// The [server], [tls], [admin] and [log] sections.
#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include <sched.h>

#include "config/sections.hpp"
#include "config/toml_reader.hpp"

namespace recgate::config {

unsigned usable_cores() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    const int count = CPU_COUNT(&allowed);
    if (count > 0) return static_cast<unsigned>(count);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace recgate::config

namespace recgate::config::sections {

void load_server(const toml::table* t, server_config& s, const env_lookup& env,
                 std::vector<error>& errors) {
  table_reader r(t, "server", errors);
  r.reject_unknown({"listen", "plain", "threads", "max_header_bytes", "header_timeout",
                    "idle_timeout", "write_timeout", "max_connections",
                    "max_requests_per_connection", "drain_timeout"});
  r.read("plain", s.plain);
  r.read_int("max_connections", s.max_connections, 0, 10000000);
  r.read_int("max_requests_per_connection", s.max_requests_per_connection, 0, 100000000);
  r.read_timeout("drain_timeout", s.drain_timeout);
  std::string listen = s.listen.to_string();
  std::string listen_key = "listen";
  r.read("listen", listen);
  if (auto v = env("RECGATE_LISTEN")) {
    listen = *v;
    listen_key = "listen (from RECGATE_LISTEN)";
  }
  if (auto ep = parse_endpoint(listen))
    s.listen = *ep;
  else
    r.fail(listen_key, "must be host:port, for example \"127.0.0.1:8080\"");
  r.read_int("threads", s.threads, 0, 256);
  // At most 64 KiB: the HTTP parser's fields hold values of up to 65,533 bytes, and no value in a
  // head of this size can be longer.
  r.read_int("max_header_bytes", s.max_header_bytes, 1024, server_config::max_header_bytes_limit);
  r.read_timeout("header_timeout", s.header_timeout);
  r.read_timeout("idle_timeout", s.idle_timeout);
  r.read_timeout("write_timeout", s.write_timeout);
  if (s.threads == 0) s.threads = usable_cores();
}

void load_tls(const toml::table* t, tls_config& tls, std::vector<error>& errors) {
  table_reader r(t, "tls", errors);
  r.reject_unknown(
      {"listen", "cert_file", "key_file", "client_ca_file", "require_client_certificate"});
  if (t == nullptr) return;
  std::string listen = tls.listen.to_string();
  r.read("listen", listen);
  if (auto ep = parse_endpoint(listen))
    tls.listen = *ep;
  else
    r.fail("listen", "must be host:port, for example \"0.0.0.0:8443\"");
  r.read("cert_file", tls.cert_file);
  r.read("key_file", tls.key_file);
  r.read("client_ca_file", tls.client_ca_file);
  r.read("require_client_certificate", tls.require_client_certificate);
  if (tls.cert_file.empty()) r.fail("cert_file", "is required for the TLS listener");
  if (tls.key_file.empty()) r.fail("key_file", "is required for the TLS listener");
  for (auto [name, path] : {std::pair{"cert_file", &tls.cert_file},
                            {"key_file", &tls.key_file},
                            {"client_ca_file", &tls.client_ca_file}}) {
    if (!path->empty() && !std::ifstream(*path)) r.fail(name, "cannot read " + *path);
  }
  if (tls.require_client_certificate && tls.client_ca_file.empty()) {
    r.fail("require_client_certificate", "needs client_ca_file to verify certificates with");
  }
}

void load_admin(const toml::table* t, admin_config& a, std::vector<error>& errors) {
  table_reader r(t, "admin", errors);
  r.reject_unknown({"listen", "enabled", "require_key", "exempt_paths"});
  std::string listen = a.listen.to_string();
  r.read("listen", listen);
  r.read("enabled", a.enabled);
  r.read("require_key", a.require_key);
  r.read("exempt_paths", a.exempt_paths);
  for (const auto& path : a.exempt_paths) {
    if (path != "/healthz" && path != "/readyz" && path != "/metrics" && path != "/cache/stats") {
      r.fail("exempt_paths",
             "\"" + path +
                 "\" cannot be exempt: only \"/healthz\", \"/readyz\", "
                 "\"/metrics\" and \"/cache/stats\" (reads that change nothing) can");
    }
  }
  if (auto ep = parse_endpoint(listen))
    a.listen = *ep;
  else
    r.fail("listen", "must be host:port, for example \"127.0.0.1:9090\"");
}

void load_log(const toml::table* t, log_config& l, std::vector<error>& errors) {
  table_reader r(t, "log", errors);
  r.reject_unknown({"level", "format"});
  r.read("level", l.level);
  r.read("format", l.format);
  static const std::set<std::string> levels{"trace", "debug",    "info", "warn",
                                            "error", "critical", "off"};
  if (!levels.contains(l.level)) {
    r.fail("level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  if (l.format != "text" && l.format != "json") r.fail("format", "must be \"text\" or \"json\"");
}

}  // namespace recgate::config::sections
