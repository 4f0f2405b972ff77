#include "proxy/lifecycle/revalidator.hpp"

#include <vector>

#include "cache/cache.hpp"
#include "proxy/telemetry/logging.hpp"

namespace recgate {

// One check of one recording: its answer once done, and the before-serving hits waiting for it.
struct revalidator::flight {
  bool done = false;
  existence answer = existence::unknown;
  std::vector<std::shared_ptr<net::steady_timer>> waiters;
};

revalidator::revalidator(revalidation_options options, cache::cache& recordings,
                         existence_probe probe, net::any_io_executor io)
    : options_(std::move(options)),
      recordings_(recordings),
      probe_(std::move(probe)),
      io_(std::move(io)) {}

revalidator::~revalidator() = default;

std::int64_t revalidator::now_ms() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t revalidator::tracked() const {
  std::lock_guard lock(mutex_);
  return tracked_.size();
}

std::size_t revalidator::running() const {
  std::lock_guard lock(mutex_);
  return flights_.size();
}

bool revalidator::due(const cache::object_key& key, const cache::manifest& m) {
  const std::int64_t after = options_.after.count();
  if (after <= 0) return false;
  const std::int64_t now = now_ms();
  // The fill itself confirmed the recording: no lock on the hits of a recent object. Not for a
  // derived object (peaks): it was computed from a WAV that may have been cached long before.
  const bool derived = key.format != "wav" && key.format != "mp3";
  if (!derived && now - m.created_unix * 1000 < after) return false;
  std::lock_guard lock(mutex_);
  if (flights_.contains(key.sid)) return options_.before_serving;  // joins it, or leaves it be
  auto it = tracked_.find(std::string_view(key.sid));
  if (it == tracked_.end()) return true;
  return now - it->second.confirmed_ms >= after && now >= it->second.retry_at_ms;
}

net::awaitable<bool> revalidator::revalidate(const cache::object_key& key,
                                             const std::string& request_id) {
  std::shared_ptr<flight> f;
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    if (auto it = flights_.find(std::string_view(key.sid)); it != flights_.end()) {
      f = it->second;
    } else if (!options_.before_serving && flights_.size() >= options_.max_running) {
      // Bounded: the recording stays due, and a later hit starts its check.
      ++counters_.skipped;
      co_return true;
    } else if (auto seen = tracked_.find(std::string_view(key.sid));
               seen != tracked_.end() &&
               now_ms() - seen->second.confirmed_ms < options_.after.count()) {
      co_return true;  // a check confirmed it between due() and now
    } else {
      f = std::make_shared<flight>();
      flights_.emplace(key.sid, f);
      start = true;
    }
  }
  if (start) {
    // A task of its own in both modes, so a check always completes (and wakes its waiters)
    // whatever happens to the request that started it.
    try {
      net::co_spawn(net::make_strand(io_), run(key, request_id, f),
                    [](const std::exception_ptr&) {});
    } catch (...) {
      finish(key.sid, f, existence::unknown);  // never a flight nobody will finish
      throw;
    }
  }
  if (!options_.before_serving) co_return true;
  co_return co_await wait(f) != existence::gone;
}

net::awaitable<void> revalidator::run(cache::object_key key, std::string request_id,
                                      std::shared_ptr<flight> f) {
  existence answer = existence::unknown;
  try {
    answer = co_await probe_(key, request_id);
    if (answer == existence::gone) purge_gone(key, request_id);
  } catch (const std::exception& e) {
    answer = existence::unknown;
    logging::warn("request_id=" + request_id + " revalidation of sid=" + key.sid +
                  " ended by an exception: " + e.what());
  } catch (...) {
    answer = existence::unknown;
  }
  // Always: the flight ends and its waiters wake, whatever happened above.
  finish(key.sid, f, answer);
}

void revalidator::purge_gone(const cache::object_key& key, const std::string& request_id) {
  auto removed = recordings_.remove_deleted(key.account_sid, key.sid);
  if (removed.ok()) {
    logging::info("request_id=" + request_id + " revalidation: sid=" + key.sid +
                  " is gone upstream; purged " + std::to_string(removed.value()) +
                  " object(s), tombstone kept");
  } else {
    // Served as cached until a later check can record it: the next due hit asks again.
    logging::error("request_id=" + request_id + " revalidation: sid=" + key.sid +
                   " is gone upstream, but the cache could not record it: " + removed.error());
  }
}

void revalidator::finish(const std::string& sid, const std::shared_ptr<flight>& f,
                         existence answer) {
  std::vector<std::shared_ptr<net::steady_timer>> waiters;
  {
    std::lock_guard lock(mutex_);
    const std::int64_t now = now_ms();
    switch (answer) {
      case existence::present:
        ++counters_.confirmed;
        remember_locked(sid, entry{now, 0}, now);
        break;
      case existence::gone:
        ++counters_.gone;
        tracked_.erase(sid);
        break;
      case existence::unknown: {
        ++counters_.failed;
        auto it = tracked_.find(std::string_view(sid));
        entry e = it == tracked_.end() ? entry{} : it->second;
        e.retry_at_ms = now + options_.retry_after_error.count();
        remember_locked(sid, e, now);
        break;
      }
    }
    f->done = true;
    f->answer = answer;
    waiters = std::move(f->waiters);
    f->waiters.clear();
    flights_.erase(sid);
  }
  for (auto& t : waiters) {
    net::post(t->get_executor(), [t] { t->cancel(); });
  }
}

void revalidator::remember_locked(const std::string& sid, entry e, std::int64_t now) {
  if (auto it = tracked_.find(std::string_view(sid)); it != tracked_.end()) {
    it->second = e;
    return;
  }
  if (tracked_.size() >= options_.max_tracked && now - last_sweep_ms_ >= 1000) {
    // Entries that no longer spare a check (confirmed too long ago, no retry pending) go first.
    last_sweep_ms_ = now;
    std::erase_if(tracked_, [&](const auto& kv) {
      return now - kv.second.confirmed_ms >= options_.after.count() && now >= kv.second.retry_at_ms;
    });
  }
  // Still full: not remembered, so the recording is checked again on its next due hit.
  if (tracked_.size() < options_.max_tracked) tracked_.emplace(sid, e);
}

net::awaitable<existence> revalidator::wait(const std::shared_ptr<flight>& f) {
  auto timer = std::make_shared<net::steady_timer>(co_await net::this_coro::executor);
  timer->expires_at(net::steady_timer::time_point::max());
  {
    std::lock_guard lock(mutex_);
    if (f->done) co_return f->answer;
    f->waiters.push_back(timer);
  }
  // The wake-up is posted to this coroutine's executor after the wait has started: none is lost.
  boost::system::error_code ec;
  co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
  std::lock_guard lock(mutex_);
  co_return f->answer;
}

}  // namespace recgate
