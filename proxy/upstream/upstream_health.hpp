#pragma once
// What the gateway knows of the upstream's health, from the exchanges it makes: when a response
// head last arrived, and how many attempts in a row failed. /readyz reads it, and it is the
// circuit breaker: after `threshold` failures in a row the circuit opens for `cooldown`, then
// lets one request through as a probe; a success closes it. Lock-free: sessions on every thread
// record into it.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace recgate {

class upstream_health {
 public:
  using clock = std::chrono::steady_clock;

  // threshold 0: the circuit never opens.
  upstream_health(unsigned threshold, clock::duration cooldown)
      : threshold_(threshold), cooldown_(cooldown) {}

  void record_success(clock::time_point now = clock::now()) {
    last_success_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    consecutive_failures_.store(0, std::memory_order_relaxed);
    next_probe_.store(0, std::memory_order_relaxed);
  }
  void record_failure(clock::time_point now = clock::now()) {
    auto failures = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
    // At or over the threshold every failure (a failed probe included) restarts the cooldown.
    if (threshold_ != 0 && failures >= threshold_) {
      next_probe_.store((now + cooldown_).time_since_epoch().count(), std::memory_order_relaxed);
    }
  }

  // May a request go to the upstream now? False while the circuit is open; once the cooldown
  // has passed, true for exactly one caller (the probe) per cooldown.
  bool allow(clock::time_point now = clock::now()) {
    if (threshold_ == 0 || consecutive_failures() < threshold_) return true;
    auto next = next_probe_.load(std::memory_order_relaxed);
    auto t = now.time_since_epoch().count();
    if (t < next) return false;
    return next_probe_.compare_exchange_strong(next, (now + cooldown_).time_since_epoch().count(),
                                               std::memory_order_relaxed);
  }
  bool open(clock::time_point now = clock::now()) const {
    return threshold_ != 0 && consecutive_failures() >= threshold_ &&
           now.time_since_epoch().count() < next_probe_.load(std::memory_order_relaxed);
  }

  // True when a response head arrived within `window` of now.
  bool reached_within(clock::duration window, clock::time_point now = clock::now()) const {
    auto last = last_success_.load(std::memory_order_relaxed);
    return last != 0 && now.time_since_epoch().count() - last <= window.count();
  }
  std::uint32_t consecutive_failures() const {
    return consecutive_failures_.load(std::memory_order_relaxed);
  }

 private:
  const unsigned threshold_;
  const clock::duration cooldown_;
  std::atomic<clock::rep> last_success_{0};
  std::atomic<clock::rep> next_probe_{0};
  std::atomic<std::uint32_t> consecutive_failures_{0};
};

}  // namespace recgate
