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
#include <vector>

#include "cache/fill.hpp"
#include "cache/lru_index.hpp"
#include "cache/origin.hpp"
#include "cache/store.hpp"
#include "util/net/async.hpp"

namespace recgate::cache {

struct cache_options {
  // storage.max_age_seconds: expiry, 0 for none; storage.on_health is the cache's own (see
  // on_store_health).
  store_options storage;
  std::uint32_t chunk_size = 256 * 1024;
  std::size_t read_buffer_bytes = 64 * 1024;  // per fill, for reading the origin
  std::uint64_t max_bytes = 0;                // bytes of audio kept; 0: no limit
  // Free space kept on the cache's filesystem: least recently used objects leave before a fill
  // would take it below this, and a fill that cannot fit is streamed without being stored.
  // 0: automatic: room for the store's write-ahead log and memtables (store::overhead_bytes),
  // or 5% of the filesystem when that is more; at most 1 GiB, and at most half the filesystem.
  std::uint64_t min_free_bytes = 0;
  // Told (from any thread) each time the store starts or stops taking writes.
  std::function<void(const store_health&)> on_store_health;
  // Told (from any thread) what maintenance did: a store recovered or reopened, space reclaimed.
  std::function<void(const std::string&)> info;
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
  // Misses served straight from the origin because the store takes no writes (X-Cache: BYPASS).
  std::atomic<std::uint64_t> bypasses{0};
  // Fills streamed to their readers without being stored: the store failed a write meanwhile, the
  // body had no length, or it did not fit.
  std::atomic<std::uint64_t> relays{0};
  std::atomic<std::uint64_t> evictions_for_space{0};  // of evictions: to keep min_free_bytes
  std::atomic<std::uint64_t> recoveries{0};           // times a failing store took writes again
};

struct cache_stats {
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0;
  std::uint64_t max_bytes = 0;
  std::uint64_t fills_in_progress = 0;
  store_health store;                    // writable, or why not
  std::uint64_t write_failures = 0;      // store writes that failed since start
  std::optional<disk_usage> disk;        // as last measured by maintenance
  std::uint64_t min_free_bytes = 0;      // the floor in force (automatic or configured)
  std::uint64_t blob_garbage_bytes = 0;  // removed audio still in blob files beside live audio
  std::uint64_t held_chunk_bytes = 0;    // chunks of recent hits held in memory
  std::uint64_t tombstones = 0;          // recordings deleted upstream, answered 404 here
};

class cache {
 public:
  // bypass: the store takes no writes now; the caller serves the origin's answer itself.
  enum class source { hit, miss, stream, negative, bypass };

  // A response reading a committed generation holds a lease on it (a fill holds one on its own
  // generation): removing the object (purge, eviction, expiry, a replacement) takes its manifest
  // at once, so no new request finds it, but leaves its chunks until the last lease goes, so no
  // response in progress is cut short by it.
  using lease = std::shared_ptr<void>;

  struct lookup {
    source from = source::hit;
    std::optional<manifest> committed;      // set for hit
    std::shared_ptr<fill> filling;          // set for miss and stream
    std::optional<origin_head> remembered;  // set for negative: the origin's 404
    lease held;                             // set for hit: keep it while reading `committed`
    // Set for miss and stream: this request's place among the fill's readers, at 0 from the
    // moment it joined, so a relay keeps every byte until it reads (pass it to read_fill), or
    // lets go (reset it) when it will not.
    fill::reader_mark mark;
    bool deleted = false;  // negative because the recording was deleted (a tombstone)
  };

  // Opens the store. io runs the fills (each on a strand of its own). What failed when the store
  // cannot be opened.
  static result<std::unique_ptr<cache>> open(const cache_options& options, net::any_io_executor io);
  ~cache();

  // For a GET: the committed object, or the fill that is fetching it, starting one through
  // `fetch` when there is none. The fill runs on its own and outlives the caller. While the
  // store takes no writes, a miss is `bypass` (no fill).
  lookup get(const object_key& key, const origin_fetch& fetch);

  // For a HEAD: the committed object or a fill in progress; never starts a fill (nullopt then).
  std::optional<lookup> peek(const object_key& key);

  // Removes every format of a recording (committed objects and remembered 404s); returns how
  // many objects there were. No new request finds it; responses reading it finish (leases), and
  // a fill in progress is not committed (its readers get the rest of it all the same). When the
  // store fails the removal, the error says so and every stored format stays (and stays counted).
  result<std::uint64_t> purge(const std::string& account_sid, const std::string& sid);

  // The recording was deleted upstream: purges it (as purge) and keeps a tombstone, so that get
  // and peek answer `negative` with `deleted` for every format from now on, across restarts,
  // without a fill. What failed when the store could not write the tombstone.
  result<std::uint64_t> remove_deleted(const std::string& account_sid, const std::string& sid);
  // Whether the recording has a tombstone (one store read; for misses, not for every hit).
  bool deleted(const std::string& account_sid, const std::string& sid);

  cache_stats stats();
  store& storage() { return *store_; }
  const cache_counters& counters() const { return counters_; }

 private:
  cache(const cache_options& options, std::unique_ptr<store> st, net::any_io_executor io);
  net::awaitable<void> run_fill(std::shared_ptr<fill> f, origin_fetch fetch);
  // How a fill ended: committed; relayed (its readers got the whole body, nothing was stored);
  // abandoned (a relay with no reader left); failed (the origin broke off, or a purge).
  enum class fill_end { committed, relayed, abandoned, failed };
  // Streams the origin's body into the fill and the store. The caller cleans up after anything
  // but committed (it may also throw).
  net::awaitable<fill_end> stream_and_commit(const std::shared_ptr<fill>& f,
                                             origin_response& response);
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
  // Evicts least recently used objects beyond max_bytes (counting what running fills will still
  // write) or while free space is below the floor, gives their space back, and persists access
  // times. On the writer pool.
  void enforce_limits();
  // Below the floor: evicts, gives the space back and measures, in rounds; returns the usage then.
  std::optional<disk_usage> make_room(std::uint64_t reserved);
  // Removes these objects from the store, and from the index once gone; returns the bytes.
  std::uint64_t evict(const std::vector<std::string>& keys);
  // Whether a fill of `length` bytes may be stored (room is made first), or why not. On the
  // writer pool.
  result<void> admit(std::uint64_t length);
  std::uint64_t min_free(const disk_usage& u) const;
  // Once a second on the writer pool: recovers a failing store (with backoff), keeps the limits.
  net::awaitable<void> maintain();
  void recover_store();
  // A fill that lost (or never had) the store streams on without it; it leaves the registry, so
  // no new request joins it. `why` for the log.
  void relay(const std::shared_ptr<fill>& f, const std::string& why);
  bool fill_running(const object_key& key, std::uint64_t generation);
  // A fill running, or a lease held, on this generation: its chunks must stay.
  bool in_use(const object_key& key, std::uint64_t generation);
  lease take_lease(const object_key& key, std::uint64_t generation);
  // A hit on `m` under a lease, when `m` is still the object's generation; nullopt otherwise.
  std::optional<lookup> leased_hit(const object_key& key, manifest m);
  static lookup deleted_lookup();   // negative, deleted: the answer for a tombstone
  std::uint64_t next_generation();  // Prereq: mutex_ held

  cache_options options_;
  std::unique_ptr<store> store_;
  net::any_io_executor io_;
  net::thread_pool writers_{1};
  net::steady_timer maintenance_timer_{writers_.get_executor()};
  std::atomic<bool> stopping_{false};
  std::uint64_t last_generation_ = 0;
  cache_counters counters_;
  lru_index lru_;
  // Bytes the running fills have been admitted for and not written yet.
  std::atomic<std::uint64_t> reserved_bytes_{0};
  // Maintenance state (writer pool only).
  std::chrono::steady_clock::time_point next_recovery_{};
  std::chrono::seconds recovery_backoff_{1};
  std::chrono::steady_clock::time_point last_recovery_{};
  std::chrono::steady_clock::time_point failing_since_{};  // zero while the store is writable
  std::uint64_t reopens_seen_ = 0;
  std::chrono::steady_clock::time_point last_garbage_collection_{};
  std::uint64_t unreclaimed_ = 0;  // bytes evicted since the chunk index was last compacted
  mutable std::mutex disk_mutex_;
  std::optional<disk_usage> disk_;  // the last measurement

  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<fill>> fills_;
  // Fills relaying without the store: their chunks (if any) stay until they end.
  std::vector<std::weak_ptr<fill>> relays_;

  std::mutex lease_mutex_;
  std::unordered_map<std::string, unsigned> leases_;  // "{key}@{generation}" -> holders
  struct negative_entry {
    origin_head head;
    std::chrono::steady_clock::time_point until;
  };
  std::unordered_map<std::string, negative_entry> negative_;
};

}  // namespace recgate::cache
