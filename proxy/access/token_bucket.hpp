#pragma once
// The one rate limit: a token bucket that fills at `rate` tokens a second up to `burst`, full at
// the start. Requests take one token or are refused (429 with how long to wait); response bytes
// take their count and may overdraw it, the next write then waiting until the debt is paid.
// Thread-safe (a mutex: shared by every request of a consumer at once); time is passed in.

#include <chrono>
#include <cstddef>
#include <mutex>

namespace recgate {

class token_bucket {
 public:
  // Prereq: rate > 0, burst > 0.
  token_bucket(double rate, double burst);

  // Takes `n` tokens when there are that many; otherwise takes none and says how long until
  // there will be.
  bool try_take(double n, std::chrono::steady_clock::time_point now,
                std::chrono::nanoseconds& wait);
  // Takes `n` tokens, into debt if need be: how long to wait until the debt is paid (zero when
  // there were enough).
  std::chrono::nanoseconds take(double n, std::chrono::steady_clock::time_point now);

  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  void refill(std::chrono::steady_clock::time_point now);  // Prereq: mutex_ held

  std::mutex mutex_;
  const double rate_;
  const double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_{};
  bool started_ = false;
};

}  // namespace recgate
