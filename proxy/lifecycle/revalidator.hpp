#pragma once
// Revalidation of existence. A cached recording is confirmed upstream when its fill completes;
// once that confirmation is older than cache.revalidate_after, a hit on it is "due": one check
// asks the upstream whether the recording still exists (one check per recording at a time,
// however many hits find it due). Gone there (404, 410): every format is purged and a tombstone
// kept (cache::remove_deleted), so every later request is 404 without asking the upstream again.
// Present: confirmed now, good for another revalidate_after. No answer (timeout, 5xx, circuit
// open): served as cached, and not checked again for retry_after_error.
//
// Background mode (the default): the hit that finds a recording due is served at once and the
// check runs beside it. before_serving: that hit, and every hit on the recording while the check
// runs, waits for its answer.
//
// Confirmations are kept in memory (at most max_tracked recordings; beyond that a recording is
// simply checked again on its next due hit), so after a restart a recording filled longer ago
// than revalidate_after is checked once more: the error is always towards checking, never
// towards serving longer.
//
// Thread safety: every member may be called from any thread. Include from .cpp files only.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/object.hpp"
#include "util/net/async.hpp"

namespace recgate {

namespace cache {
class cache;
}

enum class existence { present, gone, unknown };

// Asks the upstream whether a recording exists: key names the format the cache holds;
// request_id goes with the request upstream and into its log lines.
using existence_probe =
    std::function<net::awaitable<existence>(const cache::object_key&, const std::string&)>;

struct revalidation_options {
  std::chrono::milliseconds after{0};  // cache.revalidate_after; 0: never revalidate
  bool before_serving = false;         // cache.revalidate = "before-serving"
  std::size_t max_tracked = 100000;    // recordings whose confirmation is remembered
  std::size_t max_running = 64;        // background checks at once; a due hit beyond starts none
  std::chrono::milliseconds retry_after_error{std::chrono::seconds(10)};
  // Wall-clock milliseconds since the epoch; empty: the system clock (tests move their own).
  std::function<std::int64_t()> now_ms;
};

struct revalidation_counters {
  std::atomic<std::uint64_t> confirmed{0};  // the upstream still has it
  std::atomic<std::uint64_t> gone{0};       // 404/410: purged, tombstone kept
  std::atomic<std::uint64_t> failed{0};     // no answer: served as cached, checked again later
  std::atomic<std::uint64_t> skipped{0};    // due, but max_running checks ran already
};

class revalidator {
 public:
  // Prereq: recordings outlives the revalidator and every check it started; io runs the checks.
  revalidator(revalidation_options options, cache::cache& recordings, existence_probe probe,
              net::any_io_executor io);
  ~revalidator();
  revalidator(const revalidator&) = delete;
  revalidator& operator=(const revalidator&) = delete;

  // Whether a hit on `m` (the committed object of `key`) needs a check now. Cheap: no lock while
  // the object was filled less than revalidate_after ago.
  bool due(const cache::object_key& key, const cache::manifest& m);

  // For a due hit: starts the recording's check unless one runs; in before_serving mode waits
  // for its answer. false: the recording is gone upstream (purged now; answer 404).
  net::awaitable<bool> revalidate(const cache::object_key& key, const std::string& request_id);

  const revalidation_counters& counters() const { return counters_; }
  std::size_t tracked() const;  // recordings with a remembered confirmation or retry time
  std::size_t running() const;  // checks in flight

 private:
  struct flight;
  struct entry {
    std::int64_t confirmed_ms = 0;  // last upstream confirmation (0: none since start)
    std::int64_t retry_at_ms = 0;   // after a check without an answer: not before this
  };
  // A transparent hash, so a lookup by string_view allocates nothing.
  struct sid_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::int64_t now_ms() const;
  net::awaitable<void> run(cache::object_key key, std::string request_id,
                           std::shared_ptr<flight> f);
  void finish(const std::string& sid, const std::shared_ptr<flight>& f, existence answer);
  // 404/410: purged, with a tombstone (logged either way).
  void purge_gone(const cache::object_key& key, const std::string& request_id);
  net::awaitable<existence> wait(const std::shared_ptr<flight>& f);
  void remember_locked(const std::string& sid, entry e, std::int64_t now);  // Prereq: mutex_

  const revalidation_options options_;
  cache::cache& recordings_;
  const existence_probe probe_;
  net::any_io_executor io_;
  revalidation_counters counters_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry, sid_hash, std::equal_to<>> tracked_;  // by Sid
  std::unordered_map<std::string, std::shared_ptr<flight>, sid_hash, std::equal_to<>> flights_;
  std::int64_t last_sweep_ms_ = 0;
};

}  // namespace recgate
