#pragma once
// Logging for the gateway: asynchronous spdlog loggers writing to stdout, as text or JSON lines.
// Callers pass finished messages; nothing here ever receives a credential, and callers must keep
// it that way (no Authorization header, no token, no query string is ever passed in).

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace recgate::logging {

// One line per request in the access log.
struct access_record {
  std::string request_id;
  std::string client;    // peer address
  std::string consumer;  // "-" when unauthenticated
  std::string key_id;    // which of the consumer's keys; empty when none
  std::string decision;  // the access decision's reason ("allowed", "unknown key", ...)
  std::string method;
  std::string path;  // target without its query string
  unsigned status = 0;
  std::uint64_t bytes = 0;       // body bytes sent to the client
  unsigned upstream_status = 0;  // 0: no upstream response
  double duration_ms = 0;
  std::string cache = "-";  // HIT, MISS, STREAM, BYPASS, STALE, or "-" when no cache was involved
};

// Prereq: called once, before any other function here. Sets level and format from cfg.
void init(const config::log_config& cfg);
// Flushes and stops the background logging thread.
void shutdown();

void debug(std::string_view message);
void info(std::string_view message);
void warn(std::string_view message);
void error(std::string_view message);
void access(const access_record& record);
// Whether access lines are written at all (not at level warn or above): when not, a request
// need not build its record.
bool access_enabled();

// The text or JSON line for a record, without the time stamp and level prefix (for tests).
std::string format_access(const access_record& record, bool json);

}  // namespace recgate::logging
