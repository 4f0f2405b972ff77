#pragma once
// The gateway's own metrics, counted by sessions as requests end. The cache's and the upstream
// client's counters live with them and are read when /metrics is rendered (metrics_page.hpp).

#include <atomic>
#include <cstdint>
#include <vector>

#include "proxy/telemetry/metrics.hpp"

namespace recgate {

// The request latency histograms' labels: route (as recgate_requests_total has it) and cache
// outcome (X-Cache; "-" when the cache was not involved).
inline std::vector<metrics::labeled_histogram::label> request_latency_labels() {
  return {{"route", {"audio", "peaks", "metadata", "delete", "sign", "callback", "other"}},
          {"cache", {"HIT", "MISS", "STREAM", "RANGE", "STALE", "NEGATIVE", "BYPASS", "-"}}};
}
inline std::vector<double> request_latency_bounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

struct gateway_metrics {
  metrics::labeled_counter requests{
      "recgate_requests_total",
      "Requests answered, by route, status, consumer and SignalWire project (\"-\": none)",
      {"route", "status", "consumer", "project"}};
  metrics::labeled_counter bytes_served{"recgate_response_body_bytes_total",
                                        "Body bytes sent to clients, by cache outcome",
                                        {"cache"}};
  // Client-side latency, by route and cache outcome (the labels' values are all named here: a
  // new route or outcome must be added to its list, or it counts under the last value). From the
  // request's head having been read to the first byte of its answer being written, and to the
  // answer's last byte. Buckets resolve 0.1 ms to 10 s.
  metrics::labeled_histogram first_byte_latency{
      "recgate_request_first_byte_seconds",
      "Seconds from a request's head read to its answer's first byte written, by route and "
      "cache outcome",
      request_latency_labels(), request_latency_bounds()};
  metrics::labeled_histogram request_latency{
      "recgate_request_duration_seconds",
      "Seconds from a request's head read to its answer's last byte written, by route and cache "
      "outcome",
      request_latency_labels(), request_latency_bounds()};
  metrics::histogram upstream_latency{
      "recgate_upstream_response_seconds",
      "Seconds from sending a request upstream to its response head",
      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  // Recording status callbacks (callback_endpoint.cpp); the prefetches' own counters live in
  // the prefetcher.
  std::atomic<std::uint64_t> callbacks_received{0};
  metrics::labeled_counter callbacks_rejected{
      "recgate_callbacks_rejected_total",
      "Recording status callbacks refused: forbidden (signature), invalid, method "
      "(a full prefetch queue: recgate_prefetch_queue_refused_total)",
      {"reason"}};
  // Exceptions that escaped an I/O handler (each ended its connection; the process lives on).
  std::atomic<std::uint64_t> escaped_exceptions{0};
};

}  // namespace recgate
