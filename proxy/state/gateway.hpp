#pragma once
// State shared by every connection of a running gateway: its settings, the access policy, the
// upstream client and the cache. Set up before the server starts; what a reload replaces sits
// behind shared_setting (a snapshot per request), the rest is fixed or synchronises itself, so
// sessions on any thread use it without locks of their own. The start-up config is not kept:
// request code reads restart_settings or a live_settings snapshot (proxy/settings.hpp).
// Include only from .cpp files that already use net.hpp.

#include <atomic>
#include <memory>

#include "cache/cache.hpp"
#include "cache/metadata_cache.hpp"
#include "config/config.hpp"
#include "proxy/access/access.hpp"
#include "proxy/state/settings.hpp"
#include "proxy/telemetry/gateway_metrics.hpp"
#include "proxy/upstream/upstream_projects.hpp"
#include "util/shared_setting.hpp"

namespace recgate {

class audit_log;
class prefetcher;
class revalidator;

// The TLS listener's context from its certificate, key and client CA files, or why they cannot
// be loaded.
result<std::shared_ptr<ssl::context>> make_server_tls_context(const config::tls_config& tls);

struct gateway {
  // `config_path`: the file reload() re-reads. What failed when the upstream trust store, the
  // revocations, the TLS certificates, the audit file or the cache cannot be opened.
  static result<std::shared_ptr<gateway>> open(const config::config& c, std::string config_path,
                                               net::any_io_executor io);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // What only a restart changes, as started.
  const restart_settings fixed;
  // What a reload replaces: `settings`, `access`, `tls_context` and the upstream's credentials.
  shared_setting<const live_settings> settings;
  shared_setting<ssl::context> tls_context;  // null without a TLS listener
  // Replaced whole when the consumers file is reloaded; requests in flight keep the one they
  // loaded. The policy synchronises its own rate-limit state.
  std::shared_ptr<revocation_list> revocations;  // of signed URLs; outlives policy reloads
  shared_setting<access_policy> access;
  // The SignalWire projects served, each with its own client; a reload replaces the set (projects
  // added, removed, tokens rotated), requests in flight keep the projects they found.
  shared_setting<const upstream_projects> projects;
  std::unique_ptr<cache::cache> recordings;         // null when the cache is off
  std::unique_ptr<cache::metadata_cache> metadata;  // null when cache.metadata_ttl is 0
  std::unique_ptr<prefetcher> prefetch;             // null without [callbacks]
  std::unique_ptr<revalidator> revalidation;        // null unless cache.revalidate_after
  std::unique_ptr<audit_log> audit;                 // null without [audit]
  gateway_metrics stats;
  std::atomic<std::uint64_t> connections{0};  // client connections open now
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<bool> draining{false};  // SIGTERM: finish what runs, take nothing new
  std::atomic<std::uint64_t> requests_in_flight{0};

  // SIGHUP, or the consumers file changed: re-reads the config file (and the consumers file) and
  // applies what can change live: live_settings, consumers, signing keys and access.*, the
  // projects (added, removed, their tokens), TLS certificates. Says what changed (and names the
  // settings that differ but need a restart: needing_restart()), or why the new config is refused:
  // nothing changes then.
  result<std::string> reload();

 private:
  gateway(const config::config& c, std::string config_path, net::any_io_executor io,
          std::shared_ptr<const upstream_projects> served);
  // What can fail, after the members are made: revocations, TLS, audit, cache, prefetcher.
  result<void> open_parts(const config::config& c, const net::any_io_executor& io);
  result<void> open_cache(const config::config& c, const net::any_io_executor& io);

  // Every new upstream client's latencies go to the metrics.
  latency_observer observe_upstream_latency();

  const std::string config_path_;
  net::any_io_executor io_;  // new projects' clients run on it
};

}  // namespace recgate
