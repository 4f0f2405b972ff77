#pragma once
// The recording cache: committed objects in the store, fills in progress in a registry, one
// fill per object at a time (single flight). Knows objects, chunks and an origin to fetch from;
// knows nothing of HTTP or sessions.
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "cache/async.hpp"
#include "cache/fill.hpp"
#include "cache/origin.hpp"
#include "cache/store.hpp"

namespace recgate::cache {

struct cache_options {
  store_options storage;
  std::uint32_t chunk_size = 256 * 1024;
  std::size_t read_buffer_bytes = 64 * 1024;  // per fill, for reading the origin
};

struct cache_counters {
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};   // requests that started a fill
  std::atomic<std::uint64_t> streams{0};  // requests that joined a fill in progress
  std::atomic<std::uint64_t> fills_committed{0};
  std::atomic<std::uint64_t> fills_failed{0};
  std::atomic<std::uint64_t> bytes_from_origin{0};
};

class cache {
 public:
  enum class source { hit, miss, stream };

  struct lookup {
    source from = source::hit;
    std::optional<manifest> committed;  // set for hit
    std::shared_ptr<fill> filling;      // set for miss and stream
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

  store& storage() { return *store_; }
  const cache_counters& counters() const { return counters_; }

 private:
  cache(const cache_options& options, std::unique_ptr<store> st, net::any_io_executor io);
  net::awaitable<void> run_fill(std::shared_ptr<fill> f, origin_fetch fetch);
  // Runs a blocking store call on the writer pool and resumes on the caller's executor.
  template <class F>
  net::awaitable<store::result> on_writer(F f);
  void finish(const std::shared_ptr<fill>& f);

  cache_options options_;
  std::unique_ptr<store> store_;
  net::any_io_executor io_;
  net::thread_pool writers_{1};
  std::atomic<std::uint64_t> next_generation_;
  cache_counters counters_;

  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<fill>> fills_;
};

}  // namespace recgate::cache
