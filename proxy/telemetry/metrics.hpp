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

// A sample value as the text format writes it: integers without a fraction, else %.15g.
std::string number(double v);

// A family's "# HELP" and "# TYPE" lines, for samples written by the caller.
void write_head(std::string& out, std::string_view name, std::string_view type,
                std::string_view help);

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

// A histogram's counts: per bucket (not cumulative), their total and their sum. Lock-free.
struct histogram_cells {
  static constexpr std::size_t max_buckets = 16;

  // bounds: ascending, at most max_buckets; +Inf is implied.
  void observe(const std::vector<double>& bounds, double v);
  // "_bucket", "_sum" and "_count" lines; `labels`: "name=\"value\"," pairs (with the trailing
  // comma) to put before le, or empty.
  void write(std::string& out, std::string_view name, std::string_view labels,
             const std::vector<double>& bounds) const;

  std::array<std::atomic<std::uint64_t>, max_buckets + 1> buckets{};
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum_micros{0};  // sum in millionths, to stay atomic
};

// A histogram with fixed upper bounds (seconds, bytes...); lock-free observations.
class histogram {
 public:
  static constexpr std::size_t max_buckets = histogram_cells::max_buckets;

  // bounds: ascending, at most max_buckets; +Inf is implied.
  histogram(std::string name, std::string help, std::vector<double> bounds);

  void observe(double v) { cells_.observe(bounds_, v); }
  std::uint64_t count() const { return cells_.count.load(std::memory_order_relaxed); }
  void write(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<double> bounds_;
  histogram_cells cells_;
};

// Histograms with labels whose values are all named up front (a label's value outside its list
// counts under the list's last value), so every series exists from the start and an
// observation takes no lock and allocates nothing. Only series with observations are written.
class labeled_histogram {
 public:
  struct label {
    std::string name;
    std::vector<std::string> values;  // the last one also takes any value not listed
  };

  labeled_histogram(std::string name, std::string help, std::vector<label> labels,
                    std::vector<double> bounds);

  // values: one per label, in the same order.
  void observe(std::initializer_list<std::string_view> values, double v);
  std::uint64_t count(std::initializer_list<std::string_view> values) const;
  void write(std::string& out) const;

 private:
  std::size_t series_index(std::initializer_list<std::string_view> values) const;

  std::string name_;
  std::string help_;
  std::vector<label> labels_;
  std::vector<double> bounds_;
  std::vector<histogram_cells> series_;  // row-major over labels_
};

}  // namespace recgate::metrics
