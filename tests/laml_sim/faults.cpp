#include "faults.hpp"

#include <nlohmann/json.hpp>

#include "sid_modes.hpp"

namespace laml_sim {
namespace {

// nlohmann parses a non-negative integer literal as number_unsigned; negatives and floats fail.
bool read_count(const nlohmann::json& value, std::uint64_t& out) {
  if (!value.is_number_unsigned()) return false;
  out = value.get<std::uint64_t>();
  return true;
}

// Statuses that carry a body: a forced answer always sends the JSON error body.
bool valid_forced_status(std::uint64_t status) {
  return status >= 200 && status <= 599 && status != 204 && status != 304;
}

}  // namespace

std::optional<fault_request> parse_fault_request(std::string_view body, std::string& error) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = "body must be a JSON object";
    return std::nullopt;
  }
  const auto sid = j.find("sid");
  if (sid == j.end() || !sid->is_string() || !is_uuid(sid->get<std::string>())) {
    error = "sid must be a UUID string";
    return std::nullopt;
  }
  fault_request request{to_lower(sid->get<std::string>()), {}};
  fault_rule& rule = request.rule;
  for (const auto& [key, value] : j.items()) {
    std::uint64_t count = 0;
    if (key == "sid") continue;
    if (key == "redirect") {
      if (!value.is_boolean()) {
        error = "redirect must be a boolean";
        return std::nullopt;
      }
      rule.redirect = value.get<bool>();
      continue;
    }
    if (!read_count(value, count)) {
      error = key + " must be a non-negative integer";
      return std::nullopt;
    }
    if (key == "latency_ms")
      rule.latency_ms = count;
    else if (key == "bytes_per_second")
      rule.bytes_per_second = count;
    else if (key == "reset_after")
      rule.reset_after = count;
    else if (key == "short_by")
      rule.short_by = count;
    else if (key == "times" && count > 0)
      rule.times = count;
    else if (key == "status" && valid_forced_status(count))
      rule.status = static_cast<unsigned>(count);
    else {
      error = key == "status"  ? "status must be in 200..599, not 204 or 304"
              : key == "times" ? "times must be at least 1"
                               : "unknown field " + key;
      return std::nullopt;
    }
  }
  return request;
}

void fault_registry::set(const fault_request& request) {
  const std::lock_guard lock(mutex_);
  rules_[request.sid] = request.rule;
}

void fault_registry::clear() {
  const std::lock_guard lock(mutex_);
  rules_.clear();
}

std::optional<fault_rule> fault_registry::find(std::string_view sid) {
  const std::string key = to_lower(sid);
  const std::lock_guard lock(mutex_);
  const auto it = rules_.find(key);
  if (it == rules_.end()) return std::nullopt;
  fault_rule rule = it->second;
  if (rule.times && --*it->second.times == 0) rules_.erase(it);
  return rule;
}

}  // namespace laml_sim
