#pragma once
// The SignalWire projects the gateway serves, each with a client of its own (connection pool,
// circuit breaker, credentials, counters), found by the AccountSid of a request: one project's
// credentials are never sent for another's recordings, and an AccountSid no project serves has
// no client at all. A set is immutable; a reload builds the next one, keeping the client (pool,
// breaker, counters) of every project whose space is unchanged, so requests in flight on a
// removed project finish on the client they hold. Include only from .cpp files that use net.hpp.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/upstream/upstream_client.hpp"
#include "util/result.hpp"

namespace recgate {

class upstream_project {
 public:
  // Prereq: tls from upstream_tls_context(common).
  upstream_project(const config::project_config& project, const config::upstream_config& common,
                   net::any_io_executor io, std::unique_ptr<ssl::context> tls);
  upstream_project(const upstream_project&) = delete;
  upstream_project& operator=(const upstream_project&) = delete;

  const std::string& id() const { return id_; }
  // Lower case when it is a UUID, as the router gives AccountSids.
  const std::string& account_sid() const { return account_sid_; }
  // [upstream]'s settings with this project's space, project id and token.
  const config::upstream_config& settings() const { return cfg_; }
  // For its status callbacks; empty: callbacks.signing_key.
  const std::string& callback_signing_key() const { return callback_signing_key_; }
  upstream_client& client() { return client_; }
  const upstream_client& client() const { return client_; }

  // /readyz's last active probe of this project's space (steady-clock ticks; 0: none yet).
  std::atomic<std::int64_t> probed_at{0};
  std::atomic<bool> probe_ok{false};

 private:
  friend class upstream_projects;
  const std::string id_;
  const std::string account_sid_;
  const config::upstream_config cfg_;  // before client_, which refers to it
  const std::string callback_signing_key_;
  upstream_client client_;
};

class upstream_projects {
 public:
  using project_ptr = std::shared_ptr<upstream_project>;

  // The projects of `cfg`, reusing from `previous` (may be null) the client of every project
  // with the same id, space, project id and callback key (its token updated), and new clients
  // for the rest; `observe` gets every new client's upstream latencies. What failed when a
  // client's TLS trust store cannot be loaded.
  static result<std::shared_ptr<const upstream_projects>> build(const config::config& cfg,
                                                                const net::any_io_executor& io,
                                                                const upstream_projects* previous,
                                                                const latency_observer& observe);

  // The project serving this AccountSid (as routed: lower case); null for none.
  project_ptr find(std::string_view account_sid) const;
  const std::vector<project_ptr>& all() const { return projects_; }
  // Closes every client's idle connections: before the io_context goes away.
  void shutdown() const;

 private:
  std::vector<project_ptr> projects_;
};

}  // namespace recgate
