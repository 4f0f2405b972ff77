#pragma once
// The `.json` metadata body of a recording, in SignalWire's shape, deterministic from the Sid.
// Pure code, no I/O.

#include <cstdint>
#include <string>
#include <string_view>

namespace laml_sim {

// RFC 2822 date in UTC, e.g. "Mon, 06 May 2024 17:20:11 +0000".
std::string rfc2822_date(std::int64_t unix_seconds);

// Compact JSON with every field of the spec's table. Sid and account are lower-cased; the
// start time lies in 2024-2025, end_time = start_time + duration, call_sid is a v4 UUID.
// Prereq: is_uuid(sid).
std::string metadata_json(std::string_view sid, std::string_view project_id,
                          std::uint32_t default_duration);

}  // namespace laml_sim
