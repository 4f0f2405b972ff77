#pragma once
// Per-Sid fault rules, registered with POST /__sim/faults and cleared with DELETE /__sim/faults
// or POST /__sim/reset. Pure code (a mutex, no I/O).

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace laml_sim {

struct fault_rule {
  std::uint64_t latency_ms = 0;              // wait before the response headers
  std::uint64_t bytes_per_second = 0;        // throttle the body; 0 = unthrottled
  std::optional<std::uint64_t> reset_after;  // TCP reset after this many body bytes
  std::optional<unsigned> status;            // answer this status with a JSON error body
  std::uint64_t short_by = 0;                // send this many bytes fewer than Content-Length
  bool redirect = false;                     // audio: 302 to /__sim/media/{sid}.{ext}
  std::optional<std::uint64_t> times;        // the rule applies to this many requests, then goes
};

struct fault_request {
  std::string sid;  // lower-cased
  fault_rule rule;
};

// Parses `{"sid":"<uuid>", "latency_ms":N, "bytes_per_second":N, "reset_after":N, "status":N,
// "short_by":N, "redirect":bool}`; all but sid optional, counts non-negative integers, status in
// 200..599 but not 204 or 304 (statuses with a body). Returns nullopt and sets `error` on
// malformed JSON, a bad field or an unknown field.
std::optional<fault_request> parse_fault_request(std::string_view body, std::string& error);

// Thread-safe map from lower-cased Sid to its rule. A later rule for a Sid replaces the earlier.
class fault_registry {
 public:
  void set(const fault_request& request);
  void clear();
  // Any case of Sid; nullopt when no rule is registered. A rule with `times` is used up by
  // this call: after its last use it is removed.
  std::optional<fault_rule> find(std::string_view sid);

 private:
  mutable std::mutex mutex_;
  std::map<std::string, fault_rule, std::less<>> rules_;
};

}  // namespace laml_sim
