#include "cache/fill.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace recgate::cache {

fill::fill(object_key key, std::uint64_t generation, std::uint32_t chunk_size)
    : key_(std::move(key)), generation_(generation), chunk_size_(chunk_size) {}

fill::view fill::snapshot() const {
  std::lock_guard lock(mutex_);
  return {phase_, durable_, tail_start_ + tail_.size(), tail_start_};
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
    if (phase_ != seen.state || tail_start_ + tail_.size() != seen.available) co_return;
    waiters_.push_back(timer);
  }
  // The wake-up is posted to this coroutine's executor, so it cannot run before this wait has
  // started: no lost wake-ups.
  boost::system::error_code ec;
  co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
}

std::size_t fill::copy_tail(std::uint64_t offset, char* out, std::size_t size) const {
  std::lock_guard lock(mutex_);
  if (offset < tail_start_ || offset >= tail_start_ + tail_.size()) return 0;
  std::size_t from = static_cast<std::size_t>(offset - tail_start_);
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
  assert(tail_.size() >= chunk_size_);  // has_full_chunk()
  return std::string_view(tail_).substr(0, chunk_size_);
}

void fill::chunk_written() {
  std::lock_guard lock(mutex_);
  tail_.erase(0, chunk_size_);
  durable_ += chunk_size_;
  tail_start_ += chunk_size_;
}

std::string_view fill::tail() const {
  std::lock_guard lock(mutex_);
  return tail_;
}

void fill::complete() {
  std::unique_lock lock(mutex_);
  if (!relaying_) {
    durable_ += tail_.size();
    tail_start_ += tail_.size();
    tail_.clear();
    tail_.shrink_to_fit();
  }
  // Relaying: the tail stays, the readers still read it.
  phase_ = phase::complete;
  wake_all(lock);
}

fill::reader_mark fill::attach(std::uint64_t begin) {
  auto mark = std::make_shared<std::atomic<std::uint64_t>>(begin);
  std::lock_guard lock(mutex_);
  std::erase_if(readers_, [](const auto& r) { return r.expired(); });
  readers_.push_back(mark);
  return mark;
}

void fill::advanced() {
  std::shared_ptr<net::steady_timer> writer;
  {
    std::lock_guard lock(mutex_);
    writer = std::move(writer_waiting_);
  }
  if (writer) net::post(writer->get_executor(), [writer] { writer->cancel(); });
}

void fill::start_relay() {
  std::unique_lock lock(mutex_);
  relay_started_ = std::chrono::steady_clock::now();
  relaying_ = true;
  wake_all(lock);
}

bool fill::trim_locked() {
  assert(relaying());
  std::uint64_t lowest = tail_start_ + tail_.size();
  bool any = false;
  if (!readers_.empty()) ever_read_ = true;
  for (const auto& r : readers_) {
    if (auto mark = r.lock()) {
      any = true;
      lowest = std::min(lowest, mark->load(std::memory_order_acquire));
    }
  }
  // With no reader attached nothing is dropped: the first one starts from the beginning.
  if (any && lowest > tail_start_) {
    auto drop = static_cast<std::size_t>(lowest - tail_start_);
    tail_.erase(0, drop);
    tail_start_ += drop;
  }
  return any;
}

net::awaitable<bool> fill::wait_for_room(std::size_t window) {
  for (;;) {
    auto timer = std::make_shared<net::steady_timer>(co_await net::this_coro::executor,
                                                     std::chrono::seconds(1));
    {
      std::lock_guard lock(mutex_);
      bool readers = trim_locked();
      // The client that started the fill attaches once it has the head: a relay waits a while
      // for a first reader, and ends when every reader it had has gone.
      if (!readers && (ever_read_ || std::chrono::steady_clock::now() - relay_started_ >
                                         std::chrono::seconds(10))) {
        co_return false;
      }
      if (tail_.size() < window) co_return true;
      writer_waiting_ = timer;
    }
    // Woken by a reader moving on (advanced posts to this executor), or after a second.
    boost::system::error_code ec;
    co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

void fill::fail() {
  std::unique_lock lock(mutex_);
  phase_ = phase::failed;
  tail_.clear();
  tail_.shrink_to_fit();
  wake_all(lock);
}

}  // namespace recgate::cache
