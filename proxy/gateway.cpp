#include "proxy/net.hpp"

#include "proxy/gateway.hpp"

#include "config/load.hpp"
#include "proxy/logging.hpp"

namespace recgate {

gateway::gateway(config::config c, net::any_io_executor io)
    : cfg(std::move(c)),
      revocations(std::make_shared<revocation_list>()),
      access(std::make_shared<access_policy>(cfg, revocations)),
      upstream(cfg.upstream, io) {
  if (!cfg.access.revocations_file.empty()) {
    if (auto error = revocations->load(cfg.access.revocations_file); !error.empty()) {
      throw std::runtime_error("cannot read the revocations: " + error);
    }
  }
  upstream.set_latency_observer([this](double s) { stats.upstream_latency.observe(s); });
  if (cfg.cache.metadata_ttl.count() > 0) {
    metadata = std::make_unique<cache::metadata_cache>(cfg.cache.metadata_ttl, 100000,
                                                       cfg.cache.stale_if_error);
  }
  if (!cfg.cache.enabled()) return;
  cache::cache_options options;
  options.storage.path = cfg.cache.path;
  options.storage.block_cache_bytes = cfg.cache.block_cache_bytes;
  options.chunk_size = cfg.cache.chunk_size;
  options.read_buffer_bytes = cfg.upstream.buffer_bytes;
  options.max_bytes = cfg.cache.max_bytes;
  options.storage.max_age_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(cfg.cache.max_age).count();
  options.negative_ttl = cfg.cache.negative_ttl;
  std::string error;
  recordings = cache::cache::open(options, std::move(io), error);
  if (!recordings) throw std::runtime_error(error);
  if (auto n = recordings->storage().interrupted_fills_removed()) {
    logging::info("cache: removed " + std::to_string(n) + " interrupted fills");
  }
}

bool gateway::reload_consumers(std::string& message) {
  if (cfg.access.consumers_file.empty()) {
    message = "no access.consumers_file configured";
    return false;
  }
  std::vector<config::consumer_config> own(cfg.consumers.begin(),
                                           cfg.consumers.begin() + static_cast<std::ptrdiff_t>(cfg.own_consumers));
  auto loaded = config::load_consumers_file(cfg.access.consumers_file, own);
  if (!loaded.errors.empty()) {
    message.clear();
    for (const auto& e : loaded.errors) message += (message.empty() ? "" : "; ") + e.to_string();
    return false;
  }
  auto next = cfg;
  next.consumers = std::move(loaded.consumers);
  message = std::to_string(next.consumers.size()) + " consumers";
  access.store(std::make_shared<access_policy>(next, revocations));
  return true;
}

}  // namespace recgate
