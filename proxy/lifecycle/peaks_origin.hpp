#pragma once
// Waveform peaks as the cache's origin: a derived object of a recording, keyed "peaks-N" beside
// its audio formats (so it is filled once per recording and resolution, single flight, kept,
// evicted and expired like audio, and purged and tombstoned with the recording). Fetching it
// reads the recording's WAV (from the cache, through a fill when it is not there yet; straight
// from the upstream without a cache or while the store takes no writes), computes the peaks as
// the WAV streams past (waveform_peaks: bounded memory) and answers them as one JSON body.
// Include from .cpp files that already use net.hpp.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/origin.hpp"

namespace recgate {

class upstream_project;
namespace cache {
class cache;
}

// Pairs (pixels times channels) a peaks object may have: 2 hours of 8 kHz mono at 64 samples
// per pixel fit; beyond it the answer is 400 (ask for fewer, wider pixels).
inline constexpr std::size_t max_peak_pairs = 1 << 20;
// Peaks computed at once (each up to ~10 MB); beyond, 503 with Retry-After.
inline constexpr unsigned max_peak_computations = 4;

// The cache format of peaks at this resolution: "peaks-256".
std::string peaks_format(std::uint32_t samples_per_pixel);

// Prereq: recordings (null: no cache) outlives every fetch; each holds the project.
cache::origin_fetch peaks_origin(cache::cache* recordings,
                                 std::shared_ptr<upstream_project> project, std::string request_id);

}  // namespace recgate
