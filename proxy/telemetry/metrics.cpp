#include "proxy/telemetry/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace recgate::metrics {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);  // enough digits for a Unix time with fractions
  return buf;
}

void write_head(std::string& out, std::string_view name, std::string_view type,
                std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void write_single(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, double value) {
  write_head(out, name, type, help);
  out.append(name).append(" ").append(number(value)).append("\n");
}

labeled_counter::labeled_counter(std::string name, std::string help,
                                 std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

std::string labeled_counter::series_key(std::initializer_list<std::string_view> values) {
  std::string key;
  append_series_key(key, values);
  return key;
}

void labeled_counter::append_series_key(std::string& key,
                                        std::initializer_list<std::string_view> values) {
  bool first = true;
  for (auto v : values) {
    if (!first) key += '\x1f';
    first = false;
    key.append(v);
  }
}

void labeled_counter::add(std::initializer_list<std::string_view> values, std::uint64_t n) {
  if (values.size() != label_names_.size()) throw std::logic_error("metrics: label count");
  // Built in this thread's buffer: a series that exists (nearly every call) allocates nothing.
  thread_local std::string key;
  key.clear();
  append_series_key(key, values);
  std::lock_guard lock(mutex_);
  if (auto it = series_.find(key); it != series_.end())
    it->second += n;
  else
    series_.emplace(key, n);
}

std::uint64_t labeled_counter::value(std::initializer_list<std::string_view> values) const {
  auto key = series_key(values);
  std::lock_guard lock(mutex_);
  auto it = series_.find(key);
  return it == series_.end() ? 0 : it->second;
}

void labeled_counter::write(std::string& out) const {
  write_head(out, name_, "counter", help_);
  std::lock_guard lock(mutex_);
  for (const auto& [key, v] : series_) {
    out.append(name_).append("{");
    std::size_t start = 0;
    for (std::size_t i = 0; i < label_names_.size(); ++i) {
      auto end = i + 1 < label_names_.size() ? key.find('\x1f', start) : key.size();
      if (i > 0) out += ',';
      out.append(label_names_[i]).append("=\"");
      out.append(escape_label(std::string_view(key).substr(start, end - start))).append("\"");
      start = end + 1;
    }
    out.append("} ").append(std::to_string(v)).append("\n");
  }
}

void histogram_cells::observe(const std::vector<double>& bounds, double v) {
  std::size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
  sum_micros.fetch_add(static_cast<std::uint64_t>(std::max(0.0, v) * 1e6),
                       std::memory_order_relaxed);
}

void histogram_cells::write(std::string& out, std::string_view name, std::string_view labels,
                            const std::vector<double>& bounds) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += buckets[i].load(std::memory_order_relaxed);
    auto le = i < bounds.size() ? number(bounds[i]) : std::string("+Inf");
    out.append(name).append("_bucket{").append(labels).append("le=\"").append(le).append("\"} ");
    out.append(std::to_string(cumulative)).append("\n");
  }
  // The labels without their trailing comma, in braces, for _sum and _count.
  std::string braces;
  if (!labels.empty()) braces.append("{").append(labels.substr(0, labels.size() - 1)).append("}");
  out.append(name).append("_sum").append(braces).append(" ");
  out.append(number(static_cast<double>(sum_micros.load(std::memory_order_relaxed)) / 1e6));
  out.append("\n");
  out.append(name).append("_count").append(braces).append(" ");
  out.append(std::to_string(count.load(std::memory_order_relaxed))).append("\n");
}

histogram::histogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {
  if (bounds_.size() > max_buckets) throw std::logic_error("metrics: too many buckets");
}

void histogram::write(std::string& out) const {
  write_head(out, name_, "histogram", help_);
  cells_.write(out, name_, {}, bounds_);
}

labeled_histogram::labeled_histogram(std::string name, std::string help, std::vector<label> labels,
                                     std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      bounds_(std::move(bounds)) {
  if (bounds_.size() > histogram_cells::max_buckets) {
    throw std::logic_error("metrics: too many buckets");
  }
  std::size_t n = 1;
  for (const auto& l : labels_) {
    if (l.values.empty()) throw std::logic_error("metrics: a label without values");
    n *= l.values.size();
  }
  series_ = std::vector<histogram_cells>(n);
}

std::size_t labeled_histogram::series_index(std::initializer_list<std::string_view> values) const {
  if (values.size() != labels_.size()) throw std::logic_error("metrics: label count");
  std::size_t index = 0;
  auto value = values.begin();
  for (const auto& l : labels_) {
    std::size_t i = 0;
    while (i + 1 < l.values.size() && l.values[i] != *value) ++i;
    index = index * l.values.size() + i;
    ++value;
  }
  return index;
}

void labeled_histogram::observe(std::initializer_list<std::string_view> values, double v) {
  series_[series_index(values)].observe(bounds_, v);
}

std::uint64_t labeled_histogram::count(std::initializer_list<std::string_view> values) const {
  return series_[series_index(values)].count.load(std::memory_order_relaxed);
}

void labeled_histogram::write(std::string& out) const {
  write_head(out, name_, "histogram", help_);
  std::string labels;
  for (std::size_t index = 0; index < series_.size(); ++index) {
    if (series_[index].count.load(std::memory_order_relaxed) == 0) continue;
    // The series' label values, from its row-major index.
    std::vector<std::size_t> which(labels_.size());
    std::size_t rest = index;
    for (std::size_t k = labels_.size(); k-- > 0;) {
      which[k] = rest % labels_[k].values.size();
      rest /= labels_[k].values.size();
    }
    labels.clear();
    for (std::size_t k = 0; k < labels_.size(); ++k) {
      labels.append(labels_[k].name).append("=\"");
      labels.append(escape_label(labels_[k].values[which[k]])).append("\",");
    }
    series_[index].write(out, name_, labels, bounds_);
  }
}

}  // namespace recgate::metrics
