#include "cache/fill.hpp"

#include <cstring>

namespace recgate::cache {

fill::fill(object_key key, std::uint64_t generation, std::uint32_t chunk_size)
    : key_(std::move(key)), generation_(generation), chunk_size_(chunk_size) {}

fill::view fill::snapshot() const {
  std::lock_guard lock(mutex_);
  return {phase_, durable_, durable_ + tail_.size()};
}

net::awaitable<origin_head> fill::wait_head() {
  for (;;) {
    view seen = snapshot();
    if (seen.state != phase::head_pending) {
      std::lock_guard lock(mutex_);
      co_return head_;
    }
    co_await wait_change(seen);
  }
}

net::awaitable<void> fill::wait_end() {
  for (view seen = snapshot(); seen.state != phase::complete && seen.state != phase::failed;
       seen = snapshot()) {
    co_await wait_change(seen);
  }
}

net::awaitable<void> fill::wait_change(const view& seen) {
  auto timer = std::make_shared<net::steady_timer>(co_await net::this_coro::executor,
                                                   std::chrono::seconds(1));
  {
    std::lock_guard lock(mutex_);
    if (phase_ != seen.state || durable_ + tail_.size() != seen.available) co_return;
    waiters_.push_back(timer);
  }
  // The wake-up is posted to this coroutine's executor, so it cannot run before this wait has
  // started: no lost wake-ups.
  boost::system::error_code ec;
  co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
}

std::size_t fill::copy_tail(std::uint64_t offset, char* out, std::size_t size) const {
  std::lock_guard lock(mutex_);
  if (offset < durable_ || offset >= durable_ + tail_.size()) return 0;
  std::size_t from = static_cast<std::size_t>(offset - durable_);
  std::size_t n = std::min(size, tail_.size() - from);
  std::memcpy(out, tail_.data() + from, n);
  return n;
}

void fill::wake_all(std::unique_lock<std::mutex>& lock) {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  lock.unlock();
  for (auto& t : waiters) {
    net::post(t->get_executor(), [t] { t->cancel(); });
  }
}

void fill::set_head(origin_head head, bool streaming) {
  std::unique_lock lock(mutex_);
  head_ = std::move(head);
  phase_ = streaming ? phase::streaming : phase::failed;
  wake_all(lock);
}

void fill::append(const char* data, std::size_t size) {
  std::unique_lock lock(mutex_);
  tail_.append(data, size);
  wake_all(lock);
}

bool fill::has_full_chunk() const {
  std::lock_guard lock(mutex_);
  return tail_.size() >= chunk_size_;
}

void fill::reserve_tail(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  tail_.reserve(bytes);
}

std::string_view fill::first_chunk() const {
  std::lock_guard lock(mutex_);
  return std::string_view(tail_).substr(0, chunk_size_);
}

void fill::chunk_written() {
  std::lock_guard lock(mutex_);
  tail_.erase(0, chunk_size_);
  durable_ += chunk_size_;
}

std::string_view fill::tail() const {
  std::lock_guard lock(mutex_);
  return tail_;
}

void fill::complete() {
  std::unique_lock lock(mutex_);
  durable_ += tail_.size();
  tail_.clear();
  tail_.shrink_to_fit();
  phase_ = phase::complete;
  wake_all(lock);
}

void fill::fail() {
  std::unique_lock lock(mutex_);
  phase_ = phase::failed;
  tail_.clear();
  tail_.shrink_to_fit();
  wake_all(lock);
}

}  // namespace recgate::cache
