#pragma once
// Logging for the gateway: asynchronous spdlog loggers writing to stdout, as text or JSON lines.
// Access lines come out in batches, so they may follow log lines written after them by up to a
// second.
// Callers pass finished messages; nothing here ever receives a credential, and callers must keep
// it that way (no Authorization header, no token, no query string is ever passed in).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace recgate::logging {

// One line per request in the access log. Views into the request's own data: they need to
// live only for the call to access().
struct access_record {
  std::string_view request_id;
  std::string_view client;    // peer address
  std::string_view consumer;  // "-" when unauthenticated
  std::string_view key_id;    // which of the consumer's keys; empty when none
  std::string_view decision;  // the access decision's reason ("allowed", "unknown key", ...)
  std::string_view method;
  std::string_view path;  // target without its query string
  unsigned status = 0;
  std::uint64_t bytes = 0;       // body bytes sent to the client
  unsigned upstream_status = 0;  // 0: no upstream response
  double duration_ms = 0;
  std::string_view cache = "-";    // HIT, MISS, STREAM, BYPASS, STALE, or "-": no cache involved
  std::string_view project = "-";  // the SignalWire project's id, "-" when none was involved
};

// Prereq: called once, before any other function here. Sets level and format from cfg.
void init(const config::log_config& cfg);
// Flushes and stops the background logging thread.
void shutdown();

void debug(std::string_view message);
void info(std::string_view message);
void warn(std::string_view message);
void error(std::string_view message);
// Access lines are collected in a batch (formatted on the caller's thread, without a heap
// allocation) and handed to the logging thread whole, when it holds access_batch_bytes or at
// the latest a second after its first line, and at shutdown: one hand-over, not one wake-up of
// the logging thread per request (nginx's access_log buffer= and flush=).
void access(const access_record& record);
// Whether access lines are written at all (not at level warn or above): when not, a request
// need not build its record.
bool access_enabled();

// The text or JSON line for a record, without the time stamp and level prefix (for tests).
std::string format_access(const access_record& record, bool json);
// The time stamp and level prefix of an access line written at `at` (for tests: it must match
// what the loggers' pattern writes before every other line).
std::string access_prefix(std::chrono::system_clock::time_point at, bool json);

// The loggers' pattern (spdlog's), text and JSON.
inline constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%e%z %l %n %v";
inline constexpr const char* json_pattern =
    R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","log":"%n",%v})";

// How many bytes of access lines are handed to the logging thread at once.
inline constexpr std::size_t access_batch_bytes = 32 * 1024;

}  // namespace recgate::logging
