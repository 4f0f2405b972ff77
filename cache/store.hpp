#pragma once
// The RocksDB store of cached objects. The only file that includes RocksDB is store.cpp.
//
// Thread safety: every method may be called from any thread at once (RocksDB's own guarantee).
// Every call blocks on disk I/O; callers keep large writes off their I/O threads.
// Errors: RocksDB's Status is translated here, once, into an error message (std::string).

#include <cstdint>
#include <functional>
#include <vector>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/object.hpp"

namespace recgate::cache {

struct store_options {
  std::string path;
  std::uint64_t block_cache_bytes = 64ull << 20;  // shared by index/filter blocks and blobs
  // Objects older than this (from the start of their fill) are dropped by compaction; 0: never.
  std::int64_t max_age_seconds = 0;
  // The time compaction compares ages against (tests pass their own).
  std::function<std::int64_t()> now_unix;
};

// When a fill of this generation started: generations are microseconds since the epoch.
inline std::int64_t generation_unix(std::uint64_t generation) {
  return static_cast<std::int64_t>(generation / 1'000'000);
}

class store {
 public:
  // nullopt on success, else what failed.
  using result = std::optional<std::string>;

  // Opens the database at options.path, creating it if needed, and removes the chunks of fills
  // that were interrupted (a crash mid-fill). Returns nullptr and sets error when it cannot.
  static std::unique_ptr<store> open(const store_options& options, std::string& error);
  ~store();

  // The manifest of a committed object; nullopt when there is none (or it cannot be read).
  std::optional<manifest> find(const object_key& key);

  // Chunk `index` of the fill `generation`; nullopt when it is missing.
  std::optional<std::string> read_chunk(const object_key& key, std::uint64_t generation,
                                        std::uint32_t index);

  // The fill protocol: begin_fill marks the generation as in progress; put_chunk stores full
  // chunks as they arrive; commit writes the last chunk, the manifest and clears the mark in one
  // WriteBatch, so a reader sees the whole object or none of it; abort_fill removes the chunks.
  result begin_fill(const object_key& key, std::uint64_t generation);
  result put_chunk(const object_key& key, std::uint64_t generation, std::uint32_t index,
                   std::string_view data);
  result commit(const object_key& key, const manifest& m, std::string_view last_chunk);
  result abort_fill(const object_key& key, std::uint64_t generation);

  // Removes a committed object (manifest and chunks). No error when it is absent. With
  // only_generation, only when the object is still that generation.
  result remove(const object_key& key, std::optional<std::uint64_t> only_generation = std::nullopt);

  // Removes committed objects of every format of one recording; returns how many there were.
  std::uint64_t remove_recording(const std::string& account_sid, const std::string& sid,
                                 std::string& error);

  struct totals {
    std::uint64_t objects = 0;
    std::uint64_t bytes = 0;
  };
  totals count();

  // Every committed object with its last access time (the commit time when never recorded).
  struct entry {
    object_key key;
    std::uint64_t length = 0;
    std::int64_t last_access = 0;
  };
  std::vector<entry> scan();

  // Records last access times (unix seconds), in one batch. Best effort: an error is returned.
  result record_access(const std::vector<std::pair<object_key, std::int64_t>>& accesses);

  // Runs a full compaction now (expiry applies); for tests and maintenance.
  result compact();

  // How many interrupted fills open() found and removed.
  std::uint64_t interrupted_fills_removed() const { return interrupted_removed_; }

 private:
  struct impl;
  explicit store(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
  std::uint64_t interrupted_removed_ = 0;
};

}  // namespace recgate::cache
