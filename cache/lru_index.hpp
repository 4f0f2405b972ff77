#pragma once
// Sizes and last-access times of committed objects, in memory, for least-recently-used eviction
// under cache.max_bytes. Hits touch it without any disk write; changed access times are taken
// out in batches to be persisted. Pure (a mutex, no I/O); thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace recgate::cache {

class lru_index {
 public:
  // Adds or updates an object (its size and when it was last used).
  void put(const std::string& key, std::uint64_t bytes, std::int64_t last_access);
  // Marks an object as just used; no effect for unknown keys.
  void touch(const std::string& key, std::int64_t now);
  void erase(const std::string& key);

  // The least recently used keys whose removal brings the total to at most max_bytes, oldest
  // first. They stay in the index: the caller erases each once it is really gone.
  std::vector<std::string> oldest_beyond(std::uint64_t max_bytes) const;
  // Forgets everything (the store was replaced by an empty one).
  void clear();

  // Access times changed since the last call.
  std::vector<std::pair<std::string, std::int64_t>> take_dirty();

  std::uint64_t total_bytes() const;
  std::uint64_t objects() const;

 private:
  struct item {
    std::uint64_t bytes = 0;
    std::int64_t last_access = 0;
    std::uint64_t order = 0;  // ties broken by insertion order
  };
  void reorder(const std::string& key, item& it, std::int64_t when);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, item> items_;
  std::set<std::tuple<std::int64_t, std::uint64_t, std::string>> by_age_;
  std::map<std::string, std::int64_t> dirty_;
  std::uint64_t total_ = 0;
  std::uint64_t next_order_ = 0;
};

}  // namespace recgate::cache
