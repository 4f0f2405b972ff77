#pragma once
// Whether an upstream body comes fast enough: at least `min_rate` bytes a second on average over
// every `window` of time spent waiting for it, and no more than `deadline` of such time in all.
// Only time spent waiting on the upstream counts (not a slow client, not a relay waiting for
// its readers). Pure: the caller measures each wait.

#include <chrono>
#include <cstdint>
#include <string>

namespace recgate {

class body_pace {
 public:
  using duration = std::chrono::steady_clock::duration;

  // min_rate 0: no minimum rate (the deadline still holds).
  body_pace(std::uint64_t min_rate, duration window, duration deadline);

  // One read that waited `waited` and brought `bytes`: empty while the body keeps pace, else
  // why it does not (for the log).
  std::string observe(duration waited, std::uint64_t bytes);

  // What is left of the deadline (zero or less once it has passed).
  duration left() const { return deadline_ - total_wait_; }

 private:
  std::uint64_t min_rate_;
  duration window_;
  duration deadline_;
  duration total_wait_{};   // spent waiting for this body's bytes
  duration window_wait_{};  // of which in the current window
  std::uint64_t window_bytes_ = 0;
};

}  // namespace recgate
