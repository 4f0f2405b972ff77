#pragma once
// The recording cache: committed objects in the store, fills in progress in a registry, one
// fill per object at a time (single flight). Knows objects, chunks and an origin to fetch from;
// knows nothing of HTTP or sessions.
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/async.hpp"
#include "cache/fill.hpp"
#include "cache/lru_index.hpp"
#include "cache/origin.hpp"
#include "cache/store.hpp"

namespace recgate::cache {

struct cache_options {
  store_options storage;  // storage.max_age_seconds: expiry, 0 for none
  std::uint32_t chunk_size = 256 * 1024;
  std::size_t read_buffer_bytes = 64 * 1024;  // per fill, for reading the origin
  std::uint64_t max_bytes = 0;                // 0: no limit
  // How long an origin 404 is remembered, so a hot missing Sid does not hammer the origin.
  std::chrono::milliseconds negative_ttl{std::chrono::seconds(10)};
  // Told (from any thread) when an object is dropped as damaged or unreadable; never given
  // secrets. Empty: nobody is told.
  std::function<void(const std::string&)> warn;
};

struct cache_counters {
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};   // requests that started a fill
  std::atomic<std::uint64_t> streams{0};  // requests that joined a fill in progress
  std::atomic<std::uint64_t> fills_committed{0};
  std::atomic<std::uint64_t> fills_failed{0};
  std::atomic<std::uint64_t> bytes_from_origin{0};
  std::atomic<std::uint64_t> negative_hits{0};  // answered from a remembered 404
  std::atomic<std::uint64_t> evictions{0};
  std::atomic<std::uint64_t> expirations{0};
  // Objects dropped because they could not be served as stored: a chunk missing or failing
  // authentication, a manifest that does not authenticate, sealed under a key no longer
  // configured, or plaintext while encryption is on (or sealed while it is off). Each is fetched
  // again when next asked for.
  std::atomic<std::uint64_t> unreadable{0};
};

struct cache_stats {
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0;
  std::uint64_t max_bytes = 0;
  std::uint64_t fills_in_progress = 0;
};

class cache {
 public:
  enum class source { hit, miss, stream, negative };

  struct lookup {
    source from = source::hit;
    std::optional<manifest> committed;  // set for hit
    std::shared_ptr<fill> filling;      // set for miss and stream
    std::optional<origin_head> remembered;  // set for negative: the origin's 404
  };

  // Opens the store. io runs the fills (each on a strand of its own). nullptr and error when the
  // store cannot be opened.
  static std::unique_ptr<cache> open(const cache_options& options, net::any_io_executor io,
                                     std::string& error);
  ~cache();

  // For a GET: the committed object, or the fill that is fetching it, starting one through
  // `fetch` when there is none. The fill runs on its own and outlives the caller.
  lookup get(const object_key& key, const origin_fetch& fetch);

  // For a HEAD: the committed object or a fill in progress; never starts a fill (nullopt then).
  std::optional<lookup> peek(const object_key& key);

  // Removes every format of a recording (committed objects and remembered 404s); returns how
  // many objects there were. A fill in progress is stopped: its readers' bodies end early and
  // nothing is committed.
  std::uint64_t purge(const std::string& account_sid, const std::string& sid, std::string& error);

  cache_stats stats();
  store& storage() { return *store_; }
  const cache_counters& counters() const { return counters_; }

 private:
  cache(const cache_options& options, std::unique_ptr<store> st, net::any_io_executor io);
  net::awaitable<void> run_fill(std::shared_ptr<fill> f, origin_fetch fetch);
  // Streams the origin's body into the fill and the store; true once committed. False leaves
  // the cleanup to the caller (it may also throw).
  net::awaitable<bool> stream_and_commit(const std::shared_ptr<fill>& f, origin_response& response);
  // Runs a blocking store call on the writer pool and resumes on the caller's executor.
  template <class F>
  net::awaitable<store::result> on_writer(F f);
  void finish(const std::shared_ptr<fill>& f);
  // The committed manifest, unless it has expired or cannot be read back (then it is removed).
  std::optional<manifest> find_fresh(const object_key& key);
  // Older than cache.max_age (from the start of its fill): never served.
  bool expired(const manifest& m) const;
  // Removes this generation of an object (not a newer one that replaced it meanwhile), forgets
  // it in the LRU index and counts it in `counter`; tells options_.warn "cache: KEY why; ..."
  // unless `why` is empty.
  void drop(const object_key& key, std::uint64_t generation, std::atomic<std::uint64_t>& counter,
            std::string_view why);
  std::optional<origin_head> remembered_404(const std::string& key);
  // Evicts least recently used objects beyond max_bytes and persists access times.
  void enforce_limits();
  std::uint64_t next_generation();  // Prereq: mutex_ held

  cache_options options_;
  std::unique_ptr<store> store_;
  net::any_io_executor io_;
  net::thread_pool writers_{1};
  std::uint64_t last_generation_ = 0;
  cache_counters counters_;
  lru_index lru_;

  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<fill>> fills_;
  struct negative_entry {
    origin_head head;
    std::chrono::steady_clock::time_point until;
  };
  std::unordered_map<std::string, negative_entry> negative_;
};

}  // namespace recgate::cache
