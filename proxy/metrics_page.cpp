#include "proxy/net.hpp"

#include "proxy/metrics_page.hpp"

namespace recgate {
namespace {

double value(const std::atomic<std::uint64_t>& a) {
  return static_cast<double>(a.load(std::memory_order_relaxed));
}

}  // namespace

std::string render_metrics(gateway& gw) {
  using metrics::write_single;
  std::string out;
  out.reserve(8192);
  gw.stats.requests.write(out);
  gw.stats.bytes_served.write(out);
  write_single(out, "recgate_cache_bytes_saved_total", "counter",
               "Body bytes answered from the cache instead of the upstream",
               static_cast<double>(gw.stats.bytes_served.value({"HIT"}) +
                                   gw.stats.bytes_served.value({"STREAM"}) +
                                   gw.stats.bytes_served.value({"STALE"})));
  gw.stats.upstream_latency.write(out);

  const auto& u = gw.upstream.counters();
  write_single(out, "recgate_upstream_attempts_total", "counter",
               "Requests sent upstream, retries included", value(u.attempts));
  write_single(out, "recgate_upstream_failures_total", "counter",
               "Upstream attempts that failed: unreachable, timeout, bad response, 502/503/504",
               value(u.failures));
  write_single(out, "recgate_upstream_retries_total", "counter",
               "Upstream attempts that were retries", value(u.retries));
  write_single(out, "recgate_upstream_breaker_rejections_total", "counter",
               "Requests failed fast because the circuit was open", value(u.breaker_rejections));
  write_single(out, "recgate_upstream_circuit_open", "gauge",
               "1 while the circuit breaker is open", gw.upstream.health().open() ? 1 : 0);
  write_single(out, "recgate_upstream_connections_opened_total", "counter",
               "Upstream connections opened", value(u.connections_opened));
  write_single(out, "recgate_upstream_connections_reused_total", "counter",
               "Upstream requests sent on a kept-alive pooled connection",
               value(u.connections_reused));
  write_single(out, "recgate_upstream_tls_resumed_total", "counter",
               "Upstream TLS handshakes that resumed a session", value(u.tls_resumed));

  write_single(out, "recgate_connections_active", "gauge", "Client connections open now",
               static_cast<double>(gw.connections.load(std::memory_order_relaxed)));
  write_single(out, "recgate_connections_rejected_total", "counter",
               "Client connections refused at the connection limit",
               value(gw.connections_rejected));

  write_single(out, "recgate_cache_enabled", "gauge", "1 when the audio cache is on",
               gw.recordings ? 1 : 0);
  if (gw.recordings) {
    const auto& c = gw.recordings->counters();
    auto s = gw.recordings->stats();
    write_single(out, "recgate_cache_hits_total", "counter",
                 "Audio requests answered from a complete cached object", value(c.hits));
    write_single(out, "recgate_cache_misses_total", "counter",
                 "Audio requests that started a fill from the upstream", value(c.misses));
    write_single(out, "recgate_cache_streams_total", "counter",
                 "Audio requests that joined a fill in progress", value(c.streams));
    write_single(out, "recgate_cache_negative_hits_total", "counter",
                 "Requests answered from a remembered upstream 404", value(c.negative_hits));
    write_single(out, "recgate_cache_fills_committed_total", "counter",
                 "Fills stored whole", value(c.fills_committed));
    write_single(out, "recgate_cache_fills_failed_total", "counter",
                 "Fills abandoned (upstream error or cut short)", value(c.fills_failed));
    write_single(out, "recgate_upstream_bytes_total", "counter",
                 "Audio body bytes fetched from the upstream into the cache",
                 value(c.bytes_from_origin));
    write_single(out, "recgate_cache_evictions_total", "counter",
                 "Objects removed to stay under max_bytes", value(c.evictions));
    write_single(out, "recgate_cache_expirations_total", "counter",
                 "Objects removed for being older than max_age", value(c.expirations));
    write_single(out, "recgate_cache_fills_in_progress", "gauge", "Fills running now",
                 static_cast<double>(s.fills_in_progress));
    write_single(out, "recgate_cache_objects", "gauge", "Objects stored",
                 static_cast<double>(s.objects));
    write_single(out, "recgate_cache_bytes", "gauge", "Bytes of audio stored",
                 static_cast<double>(s.bytes));
    write_single(out, "recgate_cache_max_bytes", "gauge", "Configured cache.max_bytes (0: none)",
                 static_cast<double>(s.max_bytes));
  }
  return out;
}

}  // namespace recgate
