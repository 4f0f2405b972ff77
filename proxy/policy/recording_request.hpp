#pragma once
// What a routed request asks for: one representation of one recording. Built only by the router
// from a validated path; the upstream target is rebuilt from it, never from the client's text.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace recgate {

// No extension and ".wav" are the same object upstream, so they are one format here.
enum class recording_format { wav, mp3, json };

std::string_view extension(recording_format f);     // "wav", "mp3", "json"
std::string_view content_type(recording_format f);  // the upstream's media type

struct recording_request {
  std::string account_sid;  // lower-case 8-4-4-4-12 UUID
  std::string sid;          // lower-case 8-4-4-4-12 UUID
  recording_format format = recording_format::wav;
  bool head = false;  // HEAD rather than GET
  // A byte range to ask the upstream for (first, last inclusive; last = open_range_end: to the
  // end). Never set by the router: only the handler sets it, to fetch a range ahead of a fill.
  static constexpr std::uint64_t open_range_end = ~std::uint64_t(0);
  std::optional<std::pair<std::uint64_t, std::uint64_t>> upstream_range;

  bool is_audio() const { return format != recording_format::json; }
};

// The upstream path for a request: always the /api/laml prefix and an explicit extension.
std::string upstream_target(const recording_request& r);

}  // namespace recgate
