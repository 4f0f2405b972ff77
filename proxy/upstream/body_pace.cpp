#include "proxy/upstream/body_pace.hpp"

namespace recgate {

body_pace::body_pace(std::uint64_t min_rate, duration window, duration deadline)
    : min_rate_(min_rate), window_(window), deadline_(deadline) {}

std::string body_pace::observe(duration waited, std::uint64_t bytes) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  total_wait_ += waited;
  window_wait_ += waited;
  window_bytes_ += bytes;
  if (total_wait_ >= deadline_) {
    return "the body took longer than body_timeout (" +
           std::to_string(duration_cast<milliseconds>(deadline_).count()) + " ms) to arrive";
  }
  if (window_wait_ >= window_) {
    double seconds = std::chrono::duration<double>(window_wait_).count();
    if (min_rate_ > 0 &&
        static_cast<double>(window_bytes_) < static_cast<double>(min_rate_) * seconds) {
      return "the body came at " +
             std::to_string(
                 static_cast<std::uint64_t>(static_cast<double>(window_bytes_) / seconds)) +
             " bytes/s over " + std::to_string(duration_cast<milliseconds>(window_wait_).count()) +
             " ms, below min_body_rate " + std::to_string(min_rate_);
    }
    window_wait_ = {};
    window_bytes_ = 0;
  }
  return {};
}

}  // namespace recgate
