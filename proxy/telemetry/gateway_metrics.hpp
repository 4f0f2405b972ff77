#pragma once
// The gateway's own metrics, counted by sessions as requests end. The cache's and the upstream
// client's counters live with them and are read when /metrics is rendered (metrics_page.hpp).

#include <atomic>
#include <cstdint>

#include "proxy/telemetry/metrics.hpp"

namespace recgate {

struct gateway_metrics {
  metrics::labeled_counter requests{"recgate_requests_total",
                                    "Requests answered, by route, status and consumer",
                                    {"route", "status", "consumer"}};
  metrics::labeled_counter bytes_served{"recgate_response_body_bytes_total",
                                        "Body bytes sent to clients, by cache outcome",
                                        {"cache"}};
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
