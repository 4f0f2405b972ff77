#include "proxy/endpoints/metrics_page.hpp"

#include <functional>

#include "proxy/callbacks/prefetcher.hpp"
#include "proxy/lifecycle/revalidator.hpp"
#include "proxy/telemetry/audit_log.hpp"
#include "proxy/telemetry/process_metrics.hpp"
#include "util/build_info.hpp"
#include "util/net/net.hpp"

namespace recgate {
namespace {

double value(const std::atomic<std::uint64_t>& a) {
  return static_cast<double>(a.load(std::memory_order_relaxed));
}

using metrics::write_single;

void write_request_metrics(std::string& out, const gateway& gw) {
  gw.stats.requests.write(out);
  gw.stats.bytes_served.write(out);
  write_single(out, "recgate_cache_bytes_saved_total", "counter",
               "Body bytes answered from the cache instead of the upstream",
               static_cast<double>(gw.stats.bytes_served.value({"HIT"}) +
                                   gw.stats.bytes_served.value({"STREAM"}) +
                                   gw.stats.bytes_served.value({"STALE"})));
  gw.stats.first_byte_latency.write(out);
  gw.stats.request_latency.write(out);
  gw.stats.upstream_latency.write(out);
}

// One family, one series per project (label project="id").
void write_per_project(std::string& out, std::string_view name, std::string_view type,
                       std::string_view help, const upstream_projects& served,
                       const std::function<double(const upstream_project&)>& value_of) {
  metrics::write_head(out, name, type, help);
  for (const auto& p : served.all()) {
    out.append(name).append("{project=\"").append(metrics::escape_label(p->id())).append("\"} ");
    out.append(metrics::number(value_of(*p))).append("\n");
  }
}

void write_upstream_metrics(std::string& out, const gateway& gw) {
  const auto served = gw.projects.load();
  auto counter = [&](std::string_view name, std::string_view help,
                     std::atomic<std::uint64_t> upstream_counters::*field) {
    write_per_project(out, name, "counter", help, *served, [field](const upstream_project& p) {
      return value(p.client().counters().*field);
    });
  };
  counter("recgate_upstream_attempts_total", "Requests sent upstream, retries included",
          &upstream_counters::attempts);
  counter("recgate_upstream_failures_total",
          "Upstream attempts that failed: unreachable, timeout, bad response, 502/503/504",
          &upstream_counters::failures);
  // Every kind, zeros included: a dashboard's rate() needs the series before the first error.
  metrics::write_head(
      out, "recgate_upstream_errors_total", "counter",
      "Upstream errors by kind: resolve, connect, tls, timeout (connect, head or a stalled body), "
      "bad_response, http_5xx (a 5xx answer), body (a body cut short), slow (a body below "
      "min_body_rate or past body_timeout), credentials (the gateway's own credentials refused)");
  for (const auto& p : served->all()) {
    const auto& errors = p->client().errors();
    for (std::size_t k = 0; k < upstream_error_counts::count; ++k) {
      out.append("recgate_upstream_errors_total{project=\"")
          .append(metrics::escape_label(p->id()))
          .append("\",kind=\"")
          .append(upstream_error_counts::names[k])
          .append("\"} ")
          .append(std::to_string(errors.value(static_cast<upstream_error_counts::which>(k))))
          .append("\n");
    }
  }
  counter("recgate_upstream_retries_total", "Upstream attempts that were retries",
          &upstream_counters::retries);
  counter("recgate_upstream_breaker_rejections_total",
          "Requests failed fast because the circuit was open",
          &upstream_counters::breaker_rejections);
  write_per_project(
      out, "recgate_upstream_credentials_refused", "gauge",
      "1 while the upstream refuses the project's credentials (its metadata answers 502)", *served,
      [](const upstream_project& p) {
        return p.client().credentials() == upstream_client::credentials_state::refused ? 1 : 0;
      });
  write_per_project(out, "recgate_upstream_circuit_open", "gauge",
                    "1 while the project's circuit breaker is open", *served,
                    [](const upstream_project& p) { return p.client().health().open() ? 1 : 0; });
  counter("recgate_upstream_connections_opened_total", "Upstream connections opened",
          &upstream_counters::connections_opened);
  counter("recgate_upstream_connections_reused_total",
          "Upstream requests sent on a kept-alive pooled connection",
          &upstream_counters::connections_reused);
  counter("recgate_upstream_tls_resumed_total", "Upstream TLS handshakes that resumed a session",
          &upstream_counters::tls_resumed);
}

void write_connection_metrics(std::string& out, const gateway& gw) {
  write_single(out, "recgate_connections_active", "gauge", "Client connections open now",
               static_cast<double>(gw.connections.load(std::memory_order_relaxed)));
  write_single(out, "recgate_connections_rejected_total", "counter",
               "Client connections refused at the connection limit",
               value(gw.connections_rejected));
  write_single(out, "recgate_handler_exceptions_total", "counter",
               "Exceptions that escaped an I/O handler; each ended its connection",
               value(gw.stats.escaped_exceptions));
}

void write_callback_metrics(std::string& out, const gateway& gw) {
  if (gw.prefetch) {
    const auto& p = gw.prefetch->counters();
    write_single(out, "recgate_callbacks_received_total", "counter",
                 "Requests to the recording status callback path",
                 value(gw.stats.callbacks_received));
    gw.stats.callbacks_rejected.write(out);
    write_single(out, "recgate_prefetches_started_total", "counter",
                 "Prefetch fills started (or joined) for status callbacks", value(p.started));
    write_single(out, "recgate_prefetches_done_total", "counter",
                 "Prefetches that ended with the recording cached", value(p.done));
    write_single(out, "recgate_prefetches_failed_total", "counter",
                 "Prefetches that failed (upstream error, cut short)", value(p.failed));
    write_single(out, "recgate_prefetches_skipped_total", "counter",
                 "Prefetches not needed: the recording was cached already", value(p.skipped));
    write_single(out, "recgate_prefetch_queue_refused_total", "counter",
                 "Callbacks refused with 503 because the prefetch queue was full",
                 value(p.refused));
    write_single(out, "recgate_prefetches_running", "gauge", "Prefetch jobs running now",
                 static_cast<double>(gw.prefetch->running()));
    write_single(out, "recgate_prefetch_queue_length", "gauge", "Prefetch jobs waiting",
                 static_cast<double>(gw.prefetch->queued()));
    write_single(out, "recgate_callback_forwards_total", "counter",
                 "Callbacks forwarded to callbacks.forward_url with a 2xx answer",
                 value(p.forwarded));
    write_single(out, "recgate_callback_forward_failures_total", "counter",
                 "Callback forwards that failed or got another answer", value(p.forward_failed));
  }
}

void write_audit_metrics(std::string& out, const gateway& gw) {
  if (gw.audit) {
    write_single(out, "recgate_audit_lines_total", "counter", "Lines written to the audit file",
                 static_cast<double>(gw.audit->lines_written()));
    write_single(out, "recgate_audit_write_errors_total", "counter",
                 "Failed writes to the audit file (lines lost)",
                 static_cast<double>(gw.audit->write_errors()));
  }
}

// cache.revalidate_after: checks of cached recordings' existence upstream, by answer.
void write_revalidation_metrics(std::string& out, const revalidator& r) {
  const auto& c = r.counters();
  metrics::labeled_counter checks(
      "recgate_cache_revalidations_total",
      "Checks of a cached recording's existence upstream (cache.revalidate_after), by result: "
      "confirmed, gone (purged, tombstone kept), error (no answer; served as cached), skipped "
      "(due, but too many checks ran)",
      {"result"});
  checks.add({"confirmed"}, c.confirmed.load(std::memory_order_relaxed));
  checks.add({"gone"}, c.gone.load(std::memory_order_relaxed));
  checks.add({"error"}, c.failed.load(std::memory_order_relaxed));
  checks.add({"skipped"}, c.skipped.load(std::memory_order_relaxed));
  checks.write(out);
  write_single(out, "recgate_cache_revalidations_running", "gauge",
               "Existence checks in flight now", static_cast<double>(r.running()));
}

void write_cache_metrics(std::string& out, const gateway& gw) {
  write_single(out, "recgate_cache_enabled", "gauge", "1 when the audio cache is on",
               gw.recordings ? 1 : 0);
  if (!gw.recordings) return;
  const auto& c = gw.recordings->counters();
  const auto s = gw.recordings->stats();
  write_single(out, "recgate_cache_hits_total", "counter",
               "Audio requests answered from a complete cached object", value(c.hits));
  write_single(out, "recgate_cache_misses_total", "counter",
               "Audio requests that started a fill from the upstream", value(c.misses));
  write_single(out, "recgate_cache_streams_total", "counter",
               "Audio requests that joined a fill in progress", value(c.streams));
  write_single(out, "recgate_cache_negative_hits_total", "counter",
               "Requests answered from a remembered upstream 404", value(c.negative_hits));
  write_single(out, "recgate_cache_fills_committed_total", "counter", "Fills stored whole",
               value(c.fills_committed));
  write_single(out, "recgate_cache_fills_failed_total", "counter",
               "Fills abandoned (upstream error or cut short)", value(c.fills_failed));
  write_single(out, "recgate_upstream_bytes_total", "counter",
               "Audio body bytes fetched from the upstream into the cache",
               value(c.bytes_from_origin));
  write_single(out, "recgate_cache_evictions_total", "counter",
               "Objects removed to stay under max_bytes", value(c.evictions));
  write_single(out, "recgate_cache_expirations_total", "counter",
               "Objects removed for being older than max_age", value(c.expirations));
  write_single(out, "recgate_cache_unreadable_total", "counter",
               "Objects removed because they could not be read back (a chunk missing or not "
               "authentic, a key not configured); fetched again on demand",
               value(c.unreadable));
  write_single(out, "recgate_cache_fills_in_progress", "gauge", "Fills running now",
               static_cast<double>(s.fills_in_progress));
  write_single(out, "recgate_cache_objects", "gauge", "Objects stored",
               static_cast<double>(s.objects));
  write_single(out, "recgate_cache_bytes", "gauge", "Bytes of audio stored",
               static_cast<double>(s.bytes));
  write_single(out, "recgate_cache_max_bytes", "gauge", "Configured cache.max_bytes (0: none)",
               static_cast<double>(s.max_bytes));
  write_single(out, "recgate_cache_store_writable", "gauge",
               "1 while the store takes writes; 0 while misses bypass it (full disk, unwritable or "
               "deleted folder)",
               s.store.writable ? 1 : 0);
  write_single(out, "recgate_cache_write_failures_total", "counter",
               "Store writes that failed (each makes the store failing until it recovers)",
               static_cast<double>(s.write_failures));
  write_single(out, "recgate_cache_store_recoveries_total", "counter",
               "Times a failing store took writes again (resumed or reopened)",
               value(c.recoveries));
  write_single(out, "recgate_cache_bypasses_total", "counter",
               "Misses served from the upstream without caching while the store took no writes",
               value(c.bypasses));
  write_single(out, "recgate_cache_relays_total", "counter",
               "Fills streamed to their readers without being stored (store failed meanwhile, "
               "no length, or no room)",
               value(c.relays));
  write_single(out, "recgate_cache_evictions_for_space_total", "counter",
               "Evictions made to keep cache.min_free_bytes free on the filesystem",
               value(c.evictions_for_space));
  if (s.disk) {
    write_single(out, "recgate_cache_disk_used_bytes", "gauge",
                 "Bytes the cache folder takes on disk (audio, index, WAL, garbage)",
                 static_cast<double>(s.disk->used));
    write_single(out, "recgate_cache_disk_free_bytes", "gauge",
                 "Bytes free on the cache's filesystem", static_cast<double>(s.disk->free));
  }
  write_single(out, "recgate_cache_blob_garbage_bytes", "gauge",
               "Bytes of removed audio still in blob files beside live audio (garbage "
               "collection gives them back)",
               static_cast<double>(s.blob_garbage_bytes));
  write_single(out, "recgate_cache_held_chunk_bytes", "gauge",
               "Bytes of the chunks of recent hits held in memory (at most a quarter of "
               "cache.block_cache_bytes)",
               static_cast<double>(s.held_chunk_bytes));
  write_single(out, "recgate_cache_tombstones", "gauge",
               "Recordings deleted through the gateway, answered 404 without the upstream",
               static_cast<double>(s.tombstones));
  if (gw.revalidation) write_revalidation_metrics(out, *gw.revalidation);
}

}  // namespace

std::string render_metrics(gateway& gw) {
  std::string out;
  out.reserve(8192);
  write_request_metrics(out, gw);
  write_upstream_metrics(out, gw);
  write_connection_metrics(out, gw);
  write_callback_metrics(out, gw);
  write_audit_metrics(out, gw);
  write_cache_metrics(out, gw);
  metrics::write_process_metrics(out, metrics::read_process());
  metrics::write_build_info(out, build::version(), build::revision());
  return out;
}

}  // namespace recgate
