#pragma once
// The process_* metrics every Prometheus client library exports (resident and virtual memory,
// CPU seconds, open and allowed file descriptors, start time), read from /proc/self when
// /metrics is rendered, and recgate_build_info. Linux only: a value that cannot be read is
// left out rather than reported as zero.

#include <optional>
#include <string>
#include <string_view>

namespace recgate::metrics {

struct process_sample {
  std::optional<double> cpu_seconds;         // user + system
  std::optional<double> resident_bytes;      // RSS
  std::optional<double> virtual_bytes;       // VSZ
  std::optional<double> open_fds;            // entries of /proc/self/fd
  std::optional<double> max_fds;             // RLIMIT_NOFILE's soft limit
  std::optional<double> start_time_seconds;  // since the Unix epoch
};

// This process, now.
process_sample read_process();

// The sample's values under the standard names (process_cpu_seconds_total, ...).
void write_process_metrics(std::string& out, const process_sample& sample);

// recgate_build_info{version="…",revision="…"} 1.
void write_build_info(std::string& out, std::string_view version, std::string_view revision);

}  // namespace recgate::metrics
