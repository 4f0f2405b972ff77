#pragma once
// Answers `recgate audit`: the lines of an audit file that match a recording Sid, a consumer
// and a time window, with their count and body bytes. Pure apart from the streams it is given.

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace recgate {

// Milliseconds since the Unix epoch for an RFC 3339 date-time ("2024-05-06T17:20:11Z",
// fractional seconds and "+02:00" offsets accepted; "t"/"z" too); nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

struct audit_filter {
  std::string sid;                       // lower-case recording Sid; empty: any
  std::string consumer;                  // exact consumer id; empty: any
  std::optional<std::int64_t> since_ms;  // inclusive
  std::optional<std::int64_t> until_ms;  // exclusive
};

struct audit_summary {
  std::uint64_t lines = 0;      // matching lines printed
  std::uint64_t bytes = 0;      // their body bytes
  std::uint64_t malformed = 0;  // lines that are not audit records (e.g. cut by a crash)
};

// Copies every matching line of `in` (JSON lines as audit_log writes them) to `out`, unchanged.
// Adds to `summary`, so several files can be read into one.
void query_audit(std::istream& in, const audit_filter& filter, std::ostream& out,
                 audit_summary& summary);

}  // namespace recgate
