#pragma once
// State shared by every connection of a running gateway: the configuration, the access policy,
// the upstream client and the cache. Set up before the server starts and immutable
// after (the cache is internally synchronised), so sessions on any thread use it without locks.
// Include only from .cpp files that already use net.hpp.

#include <atomic>
#include <memory>

#include "cache/cache.hpp"
#include "cache/metadata_cache.hpp"
#include "config/config.hpp"
#include "proxy/access.hpp"
#include "proxy/gateway_metrics.hpp"
#include "proxy/upstream_client.hpp"

namespace recgate {

struct gateway {
  // Throws std::runtime_error when the upstream trust store or the cache cannot be opened.
  gateway(config::config c, net::any_io_executor io);

  const config::config cfg;
  // Replaced whole when the consumers file is reloaded; requests in flight keep the one they
  // loaded. The policy synchronises its own rate-limit state.
  std::shared_ptr<revocation_list> revocations;  // of signed URLs; outlives policy reloads
  std::atomic<std::shared_ptr<access_policy>> access;
  upstream_client upstream;
  std::unique_ptr<cache::cache> recordings;  // null when the cache is off
  std::unique_ptr<cache::metadata_cache> metadata;  // null when cache.metadata_ttl is 0
  gateway_metrics stats;
  std::atomic<std::uint64_t> connections{0};  // client connections open now
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<bool> draining{false};  // SIGTERM: finish what runs, take nothing new
  // /readyz's last active probe of the upstream (steady-clock ticks; 0: none yet) and result.
  std::atomic<std::int64_t> probed_at{0};
  std::atomic<bool> probe_ok{false};

  // Re-reads access.consumers_file and swaps in a new policy. False, with the reasons in
  // `message`, when the file is invalid: the previous consumers then stay.
  bool reload_consumers(std::string& message);
};

}  // namespace recgate
