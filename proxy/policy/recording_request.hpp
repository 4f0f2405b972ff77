#pragma once
// What a routed request asks for: one representation of one recording. Built only by the router
// from a validated path; the upstream target is rebuilt from it, never from the client's text.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace recgate {

// No extension and ".wav" are the same object upstream, so they are one format here. peaks:
// the recording's waveform (min/max pairs) computed here from its WAV, never asked upstream.
enum class recording_format { wav, mp3, json, peaks };

std::string_view extension(recording_format f);     // "wav", "mp3", "json", "peaks.json"
std::string_view content_type(recording_format f);  // the upstream's media type (peaks: JSON)

// A client's Range and validators as the pass-through path sends them upstream: rebuilt or
// checked by forwardable_conditions (range_plan.hpp), never the client's text unexamined.
// Empty strings: not sent.
struct forwarded_conditions {
  std::string range;  // "bytes=a-b", "bytes=a-" or "bytes=-n"
  std::string if_range;
  std::string if_none_match;
  std::string if_modified_since;

  bool empty() const {
    return range.empty() && if_range.empty() && if_none_match.empty() && if_modified_since.empty();
  }
};

struct recording_request {
  std::string account_sid;  // lower-case 8-4-4-4-12 UUID
  std::string sid;          // lower-case 8-4-4-4-12 UUID
  recording_format format = recording_format::wav;
  bool head = false;    // HEAD rather than GET
  bool remove = false;  // DELETE: the recording, every format, upstream and here
  // peaks only: audio samples (per channel) per min/max pair, a power of two from 64 to 65536.
  std::uint32_t samples_per_pixel = 0;
  // A byte range to ask the upstream for (first, last inclusive; last = open_range_end: to the
  // end). Never set by the router: only the handler sets it, to fetch a range ahead of a fill.
  static constexpr std::uint64_t open_range_end = ~std::uint64_t(0);
  std::optional<std::pair<std::uint64_t, std::uint64_t>> upstream_range;
  // Pass-through audio only (no cache in the way): the client's own Range and validators, for
  // the upstream to answer (206, 304, 416). Never set together with upstream_range.
  forwarded_conditions forwarded;

  // Audio and what is derived from it (peaks): the audio scope, signed URLs, the audio cache.
  bool is_audio() const { return format != recording_format::json; }
};

// The upstream path for a request: always the /api/laml prefix and an explicit extension.
std::string upstream_target(const recording_request& r);

}  // namespace recgate
