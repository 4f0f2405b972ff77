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

  metadata_cache(std::chrono::milliseconds ttl, std::size_t max_entries)
      : ttl_(ttl), max_entries_(max_entries) {}

  std::optional<entry> find(const std::string& account_sid, const std::string& sid,
                            clock::time_point now);
  void put(const std::string& account_sid, const std::string& sid, entry e, clock::time_point now);
  void erase(const std::string& account_sid, const std::string& sid);
  std::size_t size() const;

 private:
  struct item {
    entry value;
    clock::time_point until;
  };
  mutable std::mutex mutex_;
  std::chrono::milliseconds ttl_;
  std::size_t max_entries_;
  std::unordered_map<std::string, item> items_;
  std::multimap<clock::time_point, std::string> by_expiry_;
};

}  // namespace recgate::cache
