#include "proxy/access/token_bucket.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>

namespace recgate {

namespace {

std::chrono::nanoseconds seconds_for(double tokens, double rate) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(tokens / rate * 1e9));
}

}  // namespace

token_bucket::token_bucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {
  assert(rate > 0 && burst > 0);
}

void token_bucket::refill(std::chrono::steady_clock::time_point now) {
  // Threads pass their own `now`: one a little older than the last seen adds nothing.
  if (started_ && now <= last_) return;
  if (started_) {
    tokens_ =
        std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
  }
  started_ = true;
  last_ = now;
}

bool token_bucket::try_take(double n, std::chrono::steady_clock::time_point now,
                            std::chrono::nanoseconds& wait) {
  std::lock_guard lock(mutex_);
  refill(now);
  if (tokens_ >= n) {
    tokens_ -= n;
    return true;
  }
  wait = seconds_for(n - tokens_, rate_);
  return false;
}

std::chrono::nanoseconds token_bucket::take(double n, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  refill(now);
  tokens_ -= n;
  return tokens_ >= 0 ? std::chrono::nanoseconds(0) : seconds_for(-tokens_, rate_);
}

}  // namespace recgate
