#pragma once
// A setting that a reload replaces while sessions on every thread read it: a shared_ptr behind a
// mutex. Not std::atomic<std::shared_ptr>: libstdc++ 12's load() releases its internal lock with
// relaxed ordering, so a load racing a store is a data race (ThreadSanitizer reports it). The
// reads are a few per request; an uncontended lock costs tens of nanoseconds.

#include <memory>
#include <mutex>
#include <utility>

namespace recgate {

template <class T>
class shared_setting {
 public:
  shared_setting() = default;
  explicit shared_setting(std::shared_ptr<T> value) : value_(std::move(value)) {}
  shared_setting(const shared_setting&) = delete;
  shared_setting& operator=(const shared_setting&) = delete;

  std::shared_ptr<T> load() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

  void store(std::shared_ptr<T> value) {
    {
      std::lock_guard lock(mutex_);
      value_.swap(value);
    }
    // The previous value (now in `value`) is released here, outside the lock.
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<T> value_;
};

}  // namespace recgate
