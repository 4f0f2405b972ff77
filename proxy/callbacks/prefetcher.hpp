#pragma once
// Background prefetch of recordings into the cache, for verified status callbacks. Each job
// fetches its formats one after the other through the cache's single-flight fill (a client
// asking for the recording meanwhile joins the same fill), then forwards the callback when
// callbacks.forward_url is set. At most `concurrency` jobs run at once, so at most that many
// prefetch fills; at most `queue_limit` more wait; submit() refuses the rest.
//
// Thread safety: every member may be called from any thread; submit() must run on a thread
// that runs the io executor (it co_spawns). Include from .cpp files only (brings in Asio's core,
// not Beast).

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/net/async.hpp"

namespace recgate {

class upstream_projects;
template <class T>
class shared_setting;
namespace cache {
class cache;
}

struct prefetch_job {
  std::string account_sid;  // lower case, verified
  std::string sid;          // lower case, verified
  bool prefetch = false;    // fetch callbacks.prefetch_formats; false: forward only
  std::string request_id;   // the callback's, sent upstream and in the log
  std::string form_body;    // the callback's body, forwarded as it came (with forward_url)
};

struct prefetch_counters {
  std::atomic<std::uint64_t> started{0};         // fills started or joined for a prefetch
  std::atomic<std::uint64_t> done{0};            // ...that ended with the object committed
  std::atomic<std::uint64_t> failed{0};          // ...that did not (upstream error, cut short)
  std::atomic<std::uint64_t> skipped{0};         // formats already cached: nothing fetched
  std::atomic<std::uint64_t> refused{0};         // jobs refused because the queue was full (503)
  std::atomic<std::uint64_t> forwarded{0};       // callbacks forwarded with a 2xx answer
  std::atomic<std::uint64_t> forward_failed{0};  // forwards that failed or got another status
};

class prefetcher {
 public:
  // Prereq: `recordings` (not null whenever cfg has prefetch_formats: config validation) and
  // projects outlive every job; cfg is copied. Each job fetches from the project serving its
  // AccountSid.
  prefetcher(const config::callbacks_config& cfg, cache::cache* recordings,
             const shared_setting<const upstream_projects>& projects, net::any_io_executor io);

  // Starts the job now when fewer than `concurrency` run, else queues it; false (counted in
  // `refused`, logged) when the queue is full.
  bool submit(prefetch_job job);

  const prefetch_counters& counters() const { return counters_; }
  std::size_t running() const;
  std::size_t queued() const;

 private:
  net::awaitable<void> work(prefetch_job job);
  net::awaitable<void> run(const prefetch_job& job);
  enum class fetched { done, cached, failed };
  net::awaitable<fetched> fetch(const prefetch_job& job, const std::string& format);

  const config::callbacks_config cfg_;
  cache::cache* const recordings_;
  const shared_setting<const upstream_projects>& projects_;
  net::any_io_executor io_;
  prefetch_counters counters_;
  mutable std::mutex mutex_;
  std::size_t running_ = 0;         // Invariant: <= cfg_.concurrency
  std::deque<prefetch_job> queue_;  // Invariant: size() <= cfg_.queue_limit
};

}  // namespace recgate
