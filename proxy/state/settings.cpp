#include "proxy/state/settings.hpp"

#include <functional>

namespace recgate {

live_settings live_settings::of(const config::config& c) {
  return {c.server, c.admin, c.cache.cache_control};
}

restart_settings restart_settings::of(const config::config& c) {
  restart_settings r;
  r.listen = c.server.listen;
  r.plain = c.server.plain;
  r.threads = c.server.threads;
  r.tls = c.tls.enabled();
  r.tls_listen = c.tls.listen;
  // [upstream]'s connection settings; its project (space, id, token) is one of the projects,
  // which a reload replaces.
  r.upstream = c.upstream;
  r.upstream.url = {};
  r.upstream.project_id.clear();
  r.upstream.api_token.clear();
  r.upstream.api_token_source.clear();
  r.cache = c.cache;
  r.cache.cache_control.clear();
  r.admin = c.admin.enabled;
  r.admin_listen = c.admin.listen;
  r.callbacks = c.callbacks;
  r.audit = c.audit;
  r.log = c.log;
  r.consumers_file = c.access.consumers_file;
  r.revocations_file = c.access.revocations_file;
  return r;
}

namespace {

using restart_field = std::function<bool(const restart_settings&, const restart_settings&)>;

template <class F>
restart_field same(F get) {
  return [get](const restart_settings& a, const restart_settings& b) { return get(a) == get(b); };
}

}  // namespace

std::vector<std::string> needing_restart(const restart_settings& running,
                                         const restart_settings& next) {
  using r = const restart_settings&;
  // One line per README row whose setting waits for a restart.
  static const std::vector<std::pair<std::string_view, restart_field>> fields = {
      {"server.listen", same([](r s) { return s.listen; })},
      {"server.threads", same([](r s) { return s.threads; })},
      {"server.plain", same([](r s) { return s.plain; })},
      {"tls", same([](r s) { return s.tls; })},
      {"tls.listen", same([](r s) { return s.tls_listen; })},
      {"upstream.ca_file", same([](r s) { return s.upstream.ca_file; })},
      {"upstream.verify_tls", same([](r s) { return s.upstream.verify_tls; })},
      {"upstream.connect_timeout", same([](r s) { return s.upstream.connect_timeout; })},
      {"upstream.header_timeout", same([](r s) { return s.upstream.header_timeout; })},
      {"upstream.idle_timeout", same([](r s) { return s.upstream.idle_timeout; })},
      {"upstream.min_body_rate", same([](r s) { return s.upstream.min_body_rate; })},
      {"upstream.body_rate_window", same([](r s) { return s.upstream.body_rate_window; })},
      {"upstream.body_timeout", same([](r s) { return s.upstream.body_timeout; })},
      {"upstream.max_redirects", same([](r s) { return s.upstream.max_redirects; })},
      {"upstream.buffer_bytes", same([](r s) { return s.upstream.buffer_bytes; })},
      {"upstream.pool_size", same([](r s) { return s.upstream.pool_size; })},
      {"upstream.retries", same([](r s) { return s.upstream.retries; })},
      {"upstream.retry_backoff",
       same([](r s) { return std::pair(s.upstream.retry_backoff, s.upstream.retry_backoff_max); })},
      {"upstream.breaker_failures", same([](r s) { return s.upstream.breaker_failures; })},
      {"upstream.breaker_cooldown", same([](r s) { return s.upstream.breaker_cooldown; })},
      {"upstream.egress_proxy", same([](r s) { return s.upstream.egress_proxy; })},
      {"cache.path", same([](r s) { return s.cache.path; })},
      {"cache.max_bytes", same([](r s) { return s.cache.max_bytes; })},
      {"cache.min_free_bytes", same([](r s) { return s.cache.min_free_bytes; })},
      {"cache.max_age", same([](r s) { return s.cache.max_age; })},
      {"cache.negative_ttl", same([](r s) { return s.cache.negative_ttl; })},
      {"cache.metadata_ttl", same([](r s) { return s.cache.metadata_ttl; })},
      {"cache.stale_if_error", same([](r s) { return s.cache.stale_if_error; })},
      {"cache.revalidate_after", same([](r s) { return s.cache.revalidate_after; })},
      {"cache.revalidate", same([](r s) { return s.cache.revalidate_before_serving; })},
      {"cache.chunk_size", same([](r s) { return s.cache.chunk_size; })},
      {"cache.block_cache_bytes", same([](r s) { return s.cache.block_cache_bytes; })},
      {"cache.encryption_key_file",
       same([](r s) { return std::pair(s.cache.encryption_keys, s.cache.encryption_key_source); })},
      {"admin.listen", same([](r s) { return s.admin_listen; })},
      {"admin.enabled", same([](r s) { return s.admin; })},
      {"log.level", same([](r s) { return s.log.level; })},
      {"log.format", same([](r s) { return s.log.format; })},
      {"callbacks", same([](r s) { return s.callbacks; })},
      {"audit", same([](r s) { return s.audit; })},
      {"access.consumers_file (the file watched)", same([](r s) { return s.consumers_file; })},
      {"access.revocations_file", same([](r s) { return s.revocations_file; })},
  };
  std::vector<std::string> out;
  for (const auto& [name, equal] : fields) {
    if (!equal(running, next)) out.emplace_back(name);
  }
  // A field added to restart_settings but not to the table above is still reported.
  if (out.empty() && !(running == next)) out.emplace_back("other settings");
  return out;
}

}  // namespace recgate
