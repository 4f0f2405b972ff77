#pragma once
// The chunks of recently hit objects, held in memory so that a hot hit reads nothing from
// RocksDB: no lookup in its memtable or index, no copy out of a memtable, no decryption. What is
// held is what a read returned (a value pinned in RocksDB's blob cache, a memtable value's copy,
// or decrypted plaintext); bounded by bytes, least recently used first out. Keyed by the chunk's
// key in the store ({object}\0{generation}{index}): a refilled object has a new generation, so a
// held chunk is never another object's bytes. Pure (a mutex, no I/O); thread-safe.

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace recgate::cache {

class hot_chunks {
 public:
  // A chunk's bytes and what keeps them valid.
  struct held {
    std::shared_ptr<const void> owner;
    std::string_view bytes;
  };

  // At most max_bytes of chunk bytes held; 0 holds nothing.
  explicit hot_chunks(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // The chunk held under key, made the most recently used.
  std::optional<held> find(std::string_view key);
  // Holds a chunk just read (replacing one held under the same key), letting go of the least
  // recently used ones beyond the bound. A chunk larger than the bound is not held.
  void insert(std::string_view key, held chunk);
  // Lets go of every chunk whose key starts with prefix (an object's: removed or replaced).
  void forget(std::string_view prefix);
  void clear();

  std::uint64_t bytes() const;
  std::uint64_t count() const;

 private:
  struct entry {
    std::string key;
    held chunk;
  };
  using list = std::list<entry>;
  void drop(list::iterator it);  // Prereq: mutex_ held

  const std::uint64_t max_bytes_;
  mutable std::mutex mutex_;
  list order_;                                                  // most recently used first
  std::unordered_map<std::string_view, list::iterator> index_;  // views of the entries' keys
  std::uint64_t bytes_ = 0;
};

}  // namespace recgate::cache
