#pragma once
// The gateway's settings, split by how they change. Request code sees these two and never the
// start-up config, which a reload does not reach:
//   live_settings     replaced whole by a SIGHUP; a request loads one snapshot and keeps it.
//   restart_settings  what the listeners, the upstream client, the cache, callbacks, logging and
//                     the audit log were built from: only a restart changes them.
// The rest of a reload lives in the access policy (consumers, signing keys, access.*), the
// upstream client's credentials (the API token) and the TLS context (certificates).
// Plain data over config/: no Asio, no Beast.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace recgate {

struct live_settings {
  config::server_config server;  // limits and timeouts (listen, plain, threads: restart_settings)
  config::admin_config admin;    // require_key, exempt_paths (listen, enabled: restart_settings)
  std::string cache_control;     // cache.cache_control, sent with cached audio

  static live_settings of(const config::config& c);
};

struct restart_settings {
  config::endpoint listen;
  bool plain = true;
  unsigned threads = 0;
  bool tls = false;
  config::endpoint tls_listen;
  config::upstream_config upstream;  // the common settings: no project (space, id, token)
  config::cache_config cache;        // without cache_control (live)
  bool admin = true;
  config::endpoint admin_listen;
  config::callbacks_config callbacks;
  config::audit_config audit;
  config::log_config log;
  std::string consumers_file;    // the file watched for changes (a reload reads the new one)
  std::string revocations_file;  // read once; revocations then live in memory (and the file)

  static restart_settings of(const config::config& c);
  bool operator==(const restart_settings&) const = default;
};

// The settings that differ between `running` and `next` but wait for a restart, by the names of
// the README's configuration table ("server.listen", "upstream.retries", ...), in that order.
std::vector<std::string> needing_restart(const restart_settings& running,
                                         const restart_settings& next);

}  // namespace recgate
