#pragma once
// What laml-sim answers to a request: a pure decision (request in, response plan out) so the
// whole HTTP surface is testable without a socket. The session (sim_session.cpp) executes the
// plan: latency, headers, then the body in chunks with the plan's body faults.
// Pure code: touches only the shared state's mutex-protected registries, no I/O.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audio.hpp"
#include "callbacks.hpp"
#include "faults.hpp"
#include "request_stats.hpp"

namespace laml_sim {

struct sim_config {
  std::string project_id;
  std::string api_token;
  std::uint32_t duration = 10;  // seconds of audio for normal Sids
  bool tls = false;             // the listener speaks TLS: /__sim/requests adds the TLS counters
};

// Recordings removed by DELETE (lower-case Sids): absent in every form from then on, until
// POST /__sim/reset. Thread-safe.
class deleted_recordings {
 public:
  bool contains(const std::string& sid) const {
    std::lock_guard lock(mutex_);
    return sids_.count(sid) > 0;
  }
  void add(const std::string& sid) {
    std::lock_guard lock(mutex_);
    sids_.insert(sid);
  }
  void clear() {
    std::lock_guard lock(mutex_);
    sids_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::string> sids_;
};

// Shared by every connection. Thread-safe.
struct sim_state {
  explicit sim_state(sim_config c) : config(std::move(c)) {}
  const sim_config config;
  fault_registry faults;
  request_stats stats;
  callback_sink sink;  // callbacks POSTed to /__sim/callback-sink
  deleted_recordings deleted;
  std::atomic<std::uint64_t> next_cookie{1};
};

struct request_view {
  std::string_view method;
  std::string_view target;
  std::optional<std::string_view> authorization;
  std::optional<std::string_view> range;
  std::string_view body;
  std::optional<std::string_view> sni = std::nullopt;  // TLS only: the client's SNI, "" for none
  bool first_on_connection = true;  // the connection's first request: counts a connection
  bool tls_resumed = false;         // TLS only: the connection's handshake resumed a session
  // Every request header (for /__sim/callback-sink and the Host of /__sim/callbacks).
  std::vector<std::pair<std::string_view, std::string_view>> headers = {};
};

struct response_plan {
  unsigned status = 200;
  // Every header but Content-Length: Server, Set-Cookie, Content-Type, Content-Range, ...
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::uint64_t> content_length;  // nullopt only for 204 and 304
  bool send_body = true;                        // false for HEAD
  std::string text;                             // the body, unless `audio` is set
  std::optional<recording> audio;               // the body's source when set
  std::uint64_t audio_first = 0;                // recording offset of the first body byte
  std::uint64_t latency_ms = 0;                 // wait before the headers
  // Applied while sending a 200/206 recording or metadata body: bytes_per_second, reset_after,
  // short_by. Other fields unused.
  fault_rule body_faults;
  // POST /__sim/callbacks: the session sends this first, then answers with
  // callback_result_plan() instead of this plan.
  std::optional<outgoing_callback> callback;

  // Body bytes [offset, offset + out.size()). Prereq: within *content_length.
  void fill(std::uint64_t offset, std::span<char> out) const;
  // The first value of header `name` (exact case as set here), or empty.
  std::string_view header(std::string_view name) const;
};

// Decides the answer, registers faults / counts the request as a side effect.
// Never throws for any input.
response_plan handle_request(sim_state& state, const request_view& request);

// The answer to POST /__sim/callbacks once `sent` was delivered: 200 with
// callback_result_json (status 0 and the error when the target did not answer).
response_plan callback_result_plan(sim_state& state, const request_view& request,
                                   const outgoing_callback& sent, unsigned status,
                                   std::string_view body, std::string_view error);

// The answer to a request that could not be parsed (400) or whose body is too large (413):
// a JSON error body, and the connection closes afterwards. Not counted in the stats.
response_plan protocol_error_plan(sim_state& state, unsigned status, std::string_view message);

}  // namespace laml_sim
