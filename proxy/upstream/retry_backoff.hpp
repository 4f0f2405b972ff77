#pragma once
// The pause before an upstream retry: exponential, capped, with full jitter in its upper half
// (so retries of many requests that failed together spread out, and none comes back at once).
// Pure: the random draw is passed in.

#include <cstdint>

#include "config/config.hpp"

namespace recgate {

// The longest pause before retry `n` (0 for the first): base * 2^n, at most `max`.
config::duration backoff_ceiling(config::duration base, config::duration max, unsigned n);

// A pause in [ceiling / 2, ceiling], chosen by `random` (any 64-bit value, uniformly drawn).
config::duration backoff_pause(config::duration base, config::duration max, unsigned n,
                               std::uint64_t random);

}  // namespace recgate
