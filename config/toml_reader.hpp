#pragma once
// Reading TOML tables for config/'s loaders: typed values under dotted key names, every problem
// collected with its key, and the small readers the sections share (secret files, hex). Only
// config/*.cpp include it: toml++ stays out of every other room.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/load.hpp"

namespace recgate::config::sections {

// Reads typed values out of one TOML table, recording errors under dotted key names.
class table_reader {
 public:
  table_reader(const toml::table* table, std::string prefix, std::vector<error>& errors)
      : table_(table), prefix_(std::move(prefix)), errors_(errors) {}

  std::string key(std::string_view name) const {
    return prefix_.empty() ? std::string(name) : prefix_ + "." + std::string(name);
  }
  void fail(std::string_view name, std::string message) {
    errors_.push_back({key(name), std::move(message)});
  }

  // Every key in the table must be one of `known`; `forbidden` keys get their own message.
  void reject_unknown(std::initializer_list<std::string_view> known) {
    if (table_ == nullptr) return;
    for (auto&& [k, node] : *table_) {
      std::string_view name = k.str();
      bool ok = false;
      for (auto kn : known) ok = ok || kn == name;
      if (!ok) fail(name, "unknown key");
    }
  }

  const toml::node* get(std::string_view name) const {
    return table_ == nullptr ? nullptr : table_->get(name);
  }

  void read(std::string_view name, std::string& out) {
    if (auto* n = get(name)) {
      if (auto v = n->value<std::string>(); v && n->is_string())
        out = *v;
      else
        fail(name, "must be a string");
    }
  }
  void read(std::string_view name, bool& out) {
    if (auto* n = get(name)) {
      if (n->is_boolean())
        out = *n->value<bool>();
      else
        fail(name, "must be true or false");
    }
  }
  template <class Int>
  void read_int(std::string_view name, Int& out, std::int64_t min, std::int64_t max) {
    if (auto* n = get(name)) {
      if (!n->is_integer()) return fail(name, "must be an integer");
      auto v = *n->value<std::int64_t>();
      if (v < min || v > max) {
        return fail(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      }
      out = static_cast<Int>(v);
    }
  }
  // A duration is a string with a unit ("250ms", "5s", "2m", "1h", "1d") or whole seconds.
  void read(std::string_view name, duration& out) {
    if (auto* n = get(name)) {
      // Whole seconds go through parse_duration too, so both forms share its overflow bound.
      std::optional<duration> d;
      if (n->is_integer() && *n->value<std::int64_t>() >= 0) {
        d = parse_duration(std::to_string(*n->value<std::int64_t>()) + "s");
      } else if (n->is_string()) {
        d = parse_duration(*n->value<std::string>());
      }
      if (d) {
        out = *d;
      } else {
        fail(name, "must be a duration such as \"250ms\", \"5s\", \"2m\", \"1h\" or \"1d\"");
      }
    }
  }
  // An array of strings (replaces `out` when present). An item that is not a string is an
  // error; the strings are kept, so the caller goes on to report what is wrong with them too.
  void read(std::string_view name, std::vector<std::string>& out) {
    auto* n = get(name);
    if (n == nullptr) return;
    auto* arr = n->as_array();
    if (arr == nullptr) return fail(name, "must be an array of strings");
    std::vector<std::string> values;
    bool all_strings = true;
    for (auto& item : *arr) {
      if (auto v = item.value<std::string>(); v && item.is_string())
        values.push_back(*v);
      else
        all_strings = false;
    }
    if (!all_strings) fail(name, "must be an array of strings");
    out = std::move(values);
  }
  // A timeout: a duration that must be greater than zero.
  void read_timeout(std::string_view name, duration& out) {
    read(name, out);
    if (out.count() <= 0) fail(name, "must be greater than zero");
  }

 private:
  const toml::table* table_;
  std::string prefix_;
  std::vector<error>& errors_;
};

const toml::table* sub_table(const toml::table& root, std::string_view name,
                             std::vector<error>& errors);

bool is_lower_hex(std::string_view s);

std::optional<std::string> read_secret_file(const std::string& path);

std::optional<std::string> read_text(const std::string& path);

}  // namespace recgate::config::sections
