#pragma once
// Recording metadata (.json bodies) kept in memory for a short time when cache.metadata_ttl > 0.
// Keyed by (AccountSid, Sid), so nothing is shared across accounts. Bounded in entries; the
// entry closest to expiry leaves first. Pure (a mutex, no I/O); thread-safe.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace recgate::cache {

class metadata_cache {
 public:
  using clock = std::chrono::steady_clock;

  struct entry {
    std::string body;
    std::string content_type;
  };

  // Entries are fresh for ttl, then usable as stale (find_stale) for stale_for more.
  metadata_cache(std::chrono::milliseconds ttl, std::size_t max_entries,
                 std::chrono::milliseconds stale_for = std::chrono::milliseconds(0))
      : ttl_(ttl), stale_for_(stale_for), max_entries_(max_entries) {}

  std::optional<entry> find(const std::string& account_sid, const std::string& sid,
                            clock::time_point now);
  // A fresh or stale entry: for when the upstream fails (stale-if-error).
  std::optional<entry> find_stale(const std::string& account_sid, const std::string& sid,
                                  clock::time_point now);
  void put(const std::string& account_sid, const std::string& sid, entry e, clock::time_point now);
  void erase(const std::string& account_sid, const std::string& sid);
  std::size_t size() const;

 private:
  struct item {
    entry value;
    clock::time_point until;  // fresh until; kept until + stale_for_
  };
  mutable std::mutex mutex_;
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds stale_for_;
  std::size_t max_entries_;
  std::unordered_map<std::string, item> items_;
  std::multimap<clock::time_point, std::string> by_expiry_;
};

}  // namespace recgate::cache
