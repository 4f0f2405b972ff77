#pragma once
// The RocksDB store of cached objects. The only file that includes RocksDB is store.cpp.
//
// Thread safety: every method may be called from any thread at once (RocksDB's own guarantee),
// but for recover(), which one caller at a time makes.
// Every call blocks on disk I/O; callers keep large writes off their I/O threads.
// Errors: RocksDB's Status is translated here, once, into an error message (std::string). A
// failed write also makes the store failing (health()) until recover() succeeds; reads go on.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/chunk_cipher.hpp"
#include "cache/object.hpp"
#include "util/result.hpp"

namespace recgate::cache {

// How loud a line of RocksDB's own log is.
enum class store_log_level { debug, info, warn, error };

// Whether the store takes writes. A write that fails (a full disk, a folder made unwritable or
// deleted, an I/O error) makes it failing, and it stays failing until recover() succeeds.
struct store_health {
  bool writable = true;
  std::string reason;  // why not, when not: RocksDB's status text (no key material)
};

// Bytes of the store's folder on disk, and room on its filesystem.
struct disk_usage {
  std::uint64_t used = 0;        // every file in the folder (blocks allocated)
  std::uint64_t free = 0;        // available to the process on the filesystem
  std::uint64_t filesystem = 0;  // the filesystem's size
};

struct store_options {
  std::string path;
  std::uint64_t block_cache_bytes = 64ull << 20;  // shared by index/filter blocks and blobs
  // Objects older than this (from the start of their fill) are dropped by compaction; 0: never.
  std::int64_t max_age_seconds = 0;
  // The time compaction compares ages against (tests pass their own).
  std::function<std::int64_t()> now_unix;
  // Encryption at rest: the first key seals new chunks and manifests, every one opens them.
  // Empty: chunks are stored as they are (and read without a copy).
  std::vector<cipher_key> encryption_keys;
  // RocksDB's own log, a line at a time, from any thread. It never goes to a file in the cache
  // folder (on a full disk RocksDB would fail writing it). Empty: dropped.
  std::function<void(store_log_level, std::string_view)> log;
  // Told (from any thread, no lock held) each time the store starts or stops taking writes.
  std::function<void(const store_health&)> on_health;
};

// When a fill of this generation started: generations are microseconds since the epoch.
inline std::int64_t generation_unix(std::uint64_t generation) {
  return static_cast<std::int64_t>(generation / 1'000'000);
}

// A stored chunk's bytes. Pinned in RocksDB's blob/block cache when RocksDB can pin them, so a
// hit is sent from the cache's memory without a copy; otherwise held in the chunk's own buffer
// (with encryption: the decrypted plaintext, never shared with another reader).
// Valid (and pinning its cache entry) for as long as this object or a copy of it lives, also
// across a reopen of the database it came from.
class chunk {
 public:
  std::string_view bytes() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }
  friend bool operator==(const chunk& c, std::string_view s) { return c.bytes_ == s; }

 private:
  friend class store;
  chunk(std::shared_ptr<const void> owner, std::string_view bytes)
      : owner_(std::move(owner)), bytes_(bytes) {}
  std::shared_ptr<const void> owner_;
  std::string_view bytes_;
};

class store {
 public:
  // Success, or what failed.
  using result = recgate::result<void>;

  // Opens the database at options.path, creating it if needed, and removes the chunks of fills
  // that were interrupted (a crash mid-fill); what failed when it cannot.
  static recgate::result<std::unique_ptr<store>> open(const store_options& options);
  ~store();

  // The manifest of a committed object; nullopt when there is none (or it cannot be parsed).
  // It may still be one this store cannot serve: callers ask servable() before serving.
  std::optional<manifest> find(const object_key& key);

  // Chunk `index` of the fill `generation`; nullopt when it is missing or cannot be read, or
  // (with encryption) when it fails authentication or names a key that is not configured: such
  // a chunk is never returned. When it is missing, corrupt or not authentic and it belongs to
  // the committed object, that object is damaged: the damage observer is told (the cache removes
  // the object, so it is fetched again).
  // keep_in_cache true (hits): the chunk is also held in memory (hot_chunks, up to a quarter of
  // block_cache_bytes, least recently used out first; with encryption, its plaintext), so the
  // next hit on it reads nothing from RocksDB and decrypts nothing. Removing or replacing the
  // object lets go of its chunks.
  // keep_in_cache false: read without adding the chunk to the block/blob cache (readers of a
  // fill in progress, which read each chunk once, leave the cache to hits); it is then copied.
  // `unavailable`, when given, is set when the database is being reopened (recover()): the chunk
  // may be readable again in a moment.
  std::optional<chunk> read_chunk(const object_key& key, std::uint64_t generation,
                                  std::uint32_t index, bool keep_in_cache = true,
                                  bool* unavailable = nullptr);

  // Whether a committed object can be served under this store's keys, or why not (for a log
  // line: names key ids, never keys). Without keys only a plaintext object can; with keys
  // only one sealed under a configured key whose manifest authenticates. Callers remove an object
  // that cannot (it is then fetched again).
  // Cheap enough for every hit: without keys the manifest alone decides; with keys the
  // authenticator is checked when find reads the manifest from RocksDB and the verdict is
  // remembered with it (any other manifest, e.g. one changed by the caller, is checked now).
  recgate::result<void> servable(const object_key& key, const manifest& m) const;

  // Called (on the reading thread, no lock held) when read_chunk finds a committed object
  // damaged; `generation` is the damaged one. Prereq: set before the first read_chunk, once.
  using damage_observer =
      std::function<void(const object_key& key, std::uint64_t generation, const std::string& why)>;
  void on_damaged(damage_observer observer);

  // The fill protocol: begin_fill marks the generation as in progress; put_chunk stores full
  // chunks as they arrive; commit writes the last chunk, the manifest and clears the mark in one
  // WriteBatch, so a reader sees the whole object or none of it; abort_fill removes the chunks.
  // With encryption keys, chunks are sealed under the current key and commit records its id and
  // the manifest's authenticator (whatever m.key_id and m.mac held); errors if sealing fails.
  result begin_fill(const object_key& key, std::uint64_t generation);
  result put_chunk(const object_key& key, std::uint64_t generation, std::uint32_t index,
                   std::string_view data);
  result commit(const object_key& key, const manifest& m, std::string_view last_chunk);
  result abort_fill(const object_key& key, std::uint64_t generation);

  // Removes a committed object: its manifest at once (no new reader finds it), its chunks once
  // nobody reads them: they are marked like an interrupted fill's and removed by
  // remove_stale_fills (or at the next open). No error when it is absent. With only_generation,
  // only when the object is still that generation.
  result remove(const object_key& key, std::optional<std::uint64_t> only_generation = std::nullopt);

  // Removes every committed object of one recording (each audio format and anything derived
  // from it, e.g. waveform peaks: every key under "{account_sid}/{sid}/"), all in one write:
  // every one or none (chunks as remove). Returns the encoded keys removed; on failure nothing
  // changed.
  recgate::result<std::vector<std::string>> remove_recording(const std::string& account_sid,
                                                             const std::string& sid);

  // Tombstones: recordings deleted upstream (DELETE through the gateway), kept so that no request
  // for them goes upstream again. Writing one that exists already just updates its time.
  result put_tombstone(const std::string& account_sid, const std::string& sid,
                       std::int64_t unix_time);
  // Whether the recording has a tombstone. One RocksDB read (none while there are none at all):
  // for misses, not for every hit.
  bool tombstoned(const std::string& account_sid, const std::string& sid);
  std::uint64_t tombstones() const;

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

  // Runs a full compaction now (expiry applies, every blob file is rewritten); for tests.
  result compact();

  // Gives back the disk space of removed objects: compacts the chunk index, which deletes the
  // blob files all of whose chunks are gone. With a rewrite budget it also collects garbage: the
  // live chunks of the oldest blob files are rewritten into new ones, so the space held by the
  // dead chunks beside them comes back too; as many of the oldest files as hold garbage and whose
  // live chunks fit in the budget (the rewrite needs that much room before the old files go).
  result reclaim(std::uint64_t rewrite_budget = 0);

  // The blob files (where the audio sits): how many, their bytes, and the bytes of removed chunks
  // still in them (what garbage collection would give back).
  struct blob_usage {
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
    std::uint64_t garbage = 0;
  };
  blob_usage blobs() const;

  // The folder's size on disk and the room left on its filesystem (nullopt: cannot be read).
  std::optional<disk_usage> usage() const;
  // Bytes the store may write beyond the audio it holds at any time: its write-ahead log (every
  // chunk is written there first) and memtables on their way to files. Room to keep free.
  std::uint64_t overhead_bytes() const;
  // Bytes of chunks held in memory for hits (see read_chunk).
  std::uint64_t held_chunk_bytes() const;

  // Whether a generation's chunks are still needed: a fill running, or a response reading them.
  using in_use_check = std::function<bool(const object_key&, std::uint64_t generation)>;
  // Removes the chunks and markers of generations no longer in use: removed objects (remove,
  // remove_recording, a commit that replaced one) and fills that could not be aborted. Returns
  // how many.
  std::uint64_t remove_stale_fills(const in_use_check& in_use);

  // --- health: see store_health ---
  // Whether the folder is still the one opened; a removed or replaced one makes the store failing
  // (RocksDB would go on writing into deleted files for a while). For the maintenance, often.
  bool check_folder();
  store_health health() const;
  bool writable() const;
  // Writes that failed since open.
  std::uint64_t write_failures() const;
  // Tries to make a failing store take writes again: once its folder takes writes (a test file is
  // written; it is created when gone), the failed database is closed and opened again (a new,
  // empty one when the folder was gone), and a test write checks it. Until then the failed
  // database goes on serving reads. Says how the store became writable (also when it was
  // already), or what stands in the way. One caller at a time (the cache's maintenance); blocks
  // on disk I/O. A read during the reopen finds the database unavailable (read_chunk).
  // wipe_when_full: when the folder has no room even to reopen, its contents are deleted and a
  // new, empty database is opened (the cached audio is lost; the cache works again).
  // in_use: generations whose chunks must survive the reopen (see remove_stale_fills).
  enum class recovery { was_writable, reopened, wiped };
  recgate::result<recovery> recover(bool wipe_when_full = false, const in_use_check& in_use = {});
  // Counts the reopens recover() made: whoever indexes the store's objects scans it again.
  std::uint64_t reopens() const;

  // How many interrupted fills open() found and removed.
  std::uint64_t interrupted_fills_removed() const { return interrupted_removed_; }

 private:
  struct impl;
  explicit store(std::unique_ptr<impl> i);
  // When the committed object is this generation: tells the observer.
  void report_damaged(const object_key& key, std::uint64_t generation, std::uint32_t index,
                      const std::string& why);
  std::unique_ptr<impl> impl_;
  std::uint64_t interrupted_removed_ = 0;
};

}  // namespace recgate::cache
