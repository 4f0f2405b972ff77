#include "proxy/upstream/retry_backoff.hpp"

#include <algorithm>

namespace recgate {

config::duration backoff_ceiling(config::duration base, config::duration max, unsigned n) {
  if (base <= config::duration::zero() || max <= config::duration::zero()) {
    return std::max(config::duration::zero(), std::min(base, max));
  }
  auto ceiling = base;
  // Doubling stops at the cap, so it cannot overflow however large n is.
  for (unsigned i = 0; i < n && ceiling < max; ++i) ceiling *= 2;
  return std::min(ceiling, max);
}

config::duration backoff_pause(config::duration base, config::duration max, unsigned n,
                               std::uint64_t random) {
  const auto ceiling = static_cast<std::uint64_t>(backoff_ceiling(base, max, n).count());
  const auto low = ceiling / 2;
  return config::duration(static_cast<config::duration::rep>(low + random % (ceiling - low + 1)));
}

}  // namespace recgate
