#pragma once
// Recording Sids as laml-sim understands them: syntax, the test modes encoded in the third UUID
// group, and the seed every deterministic byte of a recording derives from. Pure code, no I/O.

#include <cstdint>
#include <string>
#include <string_view>

namespace laml_sim {

// True for 8-4-4-4-12 hexadecimal groups separated by '-', either case.
bool is_uuid(std::string_view text);

std::string to_lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);

enum class sid_kind {
  normal,  // duration from --duration
  sized,   // third group "0000", last group all digits: the body size in bytes
  absent,  // third group "0404": every form answers 404
};

struct sid_mode {
  sid_kind kind = sid_kind::normal;
  std::uint64_t sized_bytes = 0;  // the last group's value, only for sid_kind::sized
};

// Prereq: is_uuid(sid).
sid_mode parse_sid_mode(std::string_view sid);

// 64-bit FNV-1a of the lower-cased Sid: the root of every generated value of a recording.
std::uint64_t sid_seed(std::string_view sid);

// Counter-based generator: splitmix64(seed + i) gives the i-th value without computing the others.
std::uint64_t splitmix64(std::uint64_t x);

// Test helpers. `unique` goes into the first group so callers can make distinct Sids.
// sized_sid: throws std::invalid_argument if bytes needs more than 12 decimal digits.
std::string sized_sid(std::uint32_t unique, std::uint64_t bytes);
std::string absent_sid(std::uint32_t unique);
// A v4-looking Sid (third group starts with '4'), served with the default duration.
std::string normal_sid(std::uint32_t unique);

}  // namespace laml_sim
