#pragma once
// A small Prometheus text-format (0.0.4) exposition module: labelled counters, histograms, and
// helpers for single values. Hand-written on purpose: bookworm has prometheus-cpp-dev (1.0.1),
// but its registry looks series up through label maps under a mutex per observation, where the
// gateway's counters are atomics bumped on the hot path; this is ~180 lines, rendering only the
// series the gateway exports, unit-tested against the format. Pure and thread-safe: sessions on
// every thread count into it while /metrics renders it.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace recgate::metrics {

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string escape_label(std::string_view value);

// "# HELP" and "# TYPE" lines, then one sample.
void write_single(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, double value);

// A counter with labels; each distinct set of label values is its own series.
class labeled_counter {
 public:
  labeled_counter(std::string name, std::string help, std::vector<std::string> label_names);

  // values: one per label name, in the same order.
  void add(std::initializer_list<std::string_view> values, std::uint64_t n = 1);
  std::uint64_t value(std::initializer_list<std::string_view> values) const;
  void write(std::string& out) const;

 private:
  static std::string series_key(std::initializer_list<std::string_view> values);
  static void append_series_key(std::string& key, std::initializer_list<std::string_view> values);

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> series_;  // key: values joined by '\x1f'
};

// A histogram with fixed upper bounds (seconds, bytes...); lock-free observations.
class histogram {
 public:
  static constexpr std::size_t max_buckets = 16;

  // bounds: ascending, at most max_buckets; +Inf is implied.
  histogram(std::string name, std::string help, std::vector<double> bounds);

  void observe(double v);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  void write(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<double> bounds_;
  std::array<std::atomic<std::uint64_t>, max_buckets + 1> buckets_{};  // not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};  // sum in millionths, to stay atomic
};

}  // namespace recgate::metrics
