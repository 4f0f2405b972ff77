#pragma once
// State shared by every connection of a running gateway: the configuration, the consumers' key
// hashes and the upstream client. Immutable after start-up, so sessions on any thread read it
// without locks. Include only from .cpp files that already use net.hpp.

#include "config/config.hpp"
#include "proxy/access.hpp"
#include "proxy/upstream_client.hpp"

namespace recgate {

struct gateway {
  explicit gateway(config::config c)
      : cfg(std::move(c)), keys(cfg.consumers), upstream(cfg.upstream) {}

  const config::config cfg;
  const consumer_keys keys;
  upstream_client upstream;
};

}  // namespace recgate
