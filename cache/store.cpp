// The cache's RocksDB layout, and why:
//
// - Three column families: "manifests" (small values, read on every request), "chunks" (the
//   audio), "fills" (markers of fills in progress). Separate families let each have its own
//   settings and let a scan of manifests never touch audio.
// - Chunks go to integrated BlobDB (enable_blob_files): large values live in blob files, so
//   compaction moves small index entries instead of rewriting megabytes of audio. Audio is
//   already compressed or noise-like: no compression on chunks.
// - Chunk keys are {key}\0{generation, 8 bytes big-endian}{index, 4 bytes big-endian}: one fill's
//   chunks are one contiguous key range, removed with a single DeleteRange; a new fill of the same
//   object never mixes with an old one's chunks.
// - The manifest is written last, in the same WriteBatch as the final chunk and the removal of the
//   fill marker: atomic, so no reader ever sees a partial object, and a marker left by a crash
//   names exactly the chunks to remove at the next open.
// - A fifth family, "tombstones", keeps the recordings deleted upstream ({account}/{sid} -> the
//   unix time of the deletion), so the cache answers 404 for them without asking the upstream,
//   across restarts. Never expired: a few dozen bytes per deleted recording.
// - A fourth family, "access", keeps last-access times, written in batches (never on every hit)
//   for least-recently-used eviction across restarts.
// - Expiry (cache.max_age) is a compaction filter: chunks are judged by their key alone
//   (FilterBlobByKey, the generation is the fill's start time), so compaction never reads audio
//   to drop it; manifests by their small value. Requests check age too, so nothing expired is
//   served while it waits for compaction.
// - One LRU cache, sized in config, serves table blocks and blobs.
// - Encryption at rest (store_options.encryption_keys, chunk_cipher.hpp): chunk values are sealed
//   (AES-256-GCM, bound to key, generation and index) and the manifest names the key and carries
//   an HMAC of its fields and the object's key. Keys, generations and manifests stay readable, so
//   the layout, expiry and the fill protocol are the same with and without it. Without keys a
//   chunk is served straight from RocksDB's cache (pinned, no copy); with keys it is decrypted
//   into a buffer of its own. A chunk that is missing or does not authenticate is reported (the
//   cache then removes its object, which is fetched again rather than served damaged).
// - Failure is a state, not a crash: RocksDB's own log goes to the gateway's log (never a file in
//   this folder, which may be full); a failed write makes the store failing (no new fills, the
//   cache bypasses it) until recover() resumes RocksDB, or reopens the folder when RocksDB cannot
//   resume (it was deleted). The old database closes only when its last reader lets go.
// - What sits on disk is bounded: the small families have small memtables and max_total_wal_size
//   makes RocksDB flush whichever family holds the oldest WAL, so WAL files do not pile up behind
//   families that are written a few bytes at a time; reclaim() gives back the blob files of
//   removed objects.
#include "cache/store.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache/bytes.hpp"
#include "cache/hot_chunks.hpp"
#include "util/clock.hpp"

namespace recgate::cache {
namespace {

constexpr const char* cf_manifests = "manifests";
constexpr const char* cf_chunks = "chunks";
constexpr const char* cf_fills = "fills";
constexpr const char* cf_access = "access";
constexpr const char* cf_tombstones = "tombstones";

std::string tombstone_key(const std::string& account_sid, const std::string& sid) {
  return account_sid + "/" + sid;
}

// {key}\0{generation}: the prefix of one fill's chunks, and its marker key.
std::string generation_prefix(const object_key& key, std::uint64_t generation) {
  std::string k = key.encoded();
  k.push_back('\0');
  put_be(k, generation, 8);
  return k;
}

std::string chunk_key(const object_key& key, std::uint64_t generation, std::uint32_t index) {
  std::string k = generation_prefix(key, generation);
  put_be(k, index, 4);
  return k;
}

std::string generation_end(const object_key& key, std::uint64_t generation) {
  std::string k = key.encoded();
  k.push_back('\0');
  put_be(k, generation + 1, 8);
  return k;
}

// Drops what is older than max_age. Chunks are judged from their key (the generation), without
// reading the blob; manifests from their value.
class expiry_filter final : public rocksdb::CompactionFilter {
 public:
  expiry_filter(bool chunks, std::int64_t max_age, std::function<std::int64_t()> now)
      : chunks_(chunks), max_age_(max_age), now_(std::move(now)) {}

  Decision FilterV2(int, const rocksdb::Slice& key, ValueType type, const rocksdb::Slice& value,
                    std::string*, std::string*) const override {
    if (type != ValueType::kValue && type != ValueType::kBlobIndex) return Decision::kKeep;
    return expired(key, value) ? Decision::kRemove : Decision::kKeep;
  }

  Decision FilterBlobByKey(int, const rocksdb::Slice& key, std::string*,
                           std::string*) const override {
    return expired(key, {}) ? Decision::kRemove : Decision::kKeep;
  }

  const char* Name() const override { return "recgate.expiry"; }

 private:
  bool expired(const rocksdb::Slice& key, const rocksdb::Slice& value) const {
    std::uint64_t generation = 0;
    if (chunks_) {
      std::string_view k(key.data(), key.size());
      auto nul = k.find('\0');
      if (nul == std::string_view::npos || k.size() < nul + 9) return false;
      generation = get_be(k.substr(nul + 1, 8));
    } else {
      auto m = manifest::parse(std::string_view(value.data(), value.size()));
      if (!m) return false;
      generation = m->generation;
    }
    return generation_unix(generation) + max_age_ < now_();
  }

  bool chunks_;
  std::int64_t max_age_;
  std::function<std::int64_t()> now_;
};

std::int64_t system_now() { return unix_now(); }

// What a manifest's authenticator covers: every field and the object it describes,
// length-prefixed so that no two manifests encode alike.
std::string canonical_manifest(const object_key& key, const manifest& m) {
  std::string out;
  auto field = [&](std::string_view v) {
    put_be(out, v.size(), 4);
    out.append(v);
  };
  field(key.encoded());
  put_be(out, m.length, 8);
  field(m.content_type);
  field(m.sha256_hex);
  put_be(out, static_cast<std::uint64_t>(m.created_unix), 8);
  put_be(out, m.generation, 8);
  put_be(out, m.chunk_size, 4);
  field(m.last_modified);
  field(m.key_id);
  return out;
}

// Whether `m` can be served under `keys`, or why not (see store::servable). Names key ids,
// never key material.
result<void> servable_under(const key_ring& keys, const object_key& key, const manifest& m) {
  if (keys.empty()) {
    if (m.key_id.empty()) return {};
    return fail("stored encrypted, under key " + m.key_id + ", while encryption is off");
  }
  if (m.key_id.empty()) return fail("stored unencrypted while encryption is on");
  if (keys.find(m.key_id) == nullptr) {
    return fail("sealed under key " + m.key_id + ", which is not configured");
  }
  if (!check_manifest_tag(keys, m.key_id, canonical_manifest(key, m), m.mac)) {
    return fail("its manifest does not authenticate under key " + m.key_id);
  }
  return {};
}

store::result to_result(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return {};
  return fail(std::string(what) + ": " + s.ToString());
}

store_log_level level_of(rocksdb::InfoLogLevel level) {
  switch (level) {
    case rocksdb::InfoLogLevel::WARN_LEVEL:
      return store_log_level::warn;
    case rocksdb::InfoLogLevel::ERROR_LEVEL:
    case rocksdb::InfoLogLevel::FATAL_LEVEL:
      return store_log_level::error;
    // RocksDB's info level is chatty (options at open, every flush and compaction): debug here.
    default:
      return store_log_level::debug;
  }
}

// RocksDB's info log, handed line by line to store_options::log instead of a LOG file in the
// cache folder. Called from RocksDB's threads at once; the sink is thread-safe.
class log_bridge final : public rocksdb::Logger {
 public:
  explicit log_bridge(std::function<void(store_log_level, std::string_view)> sink)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), sink_(std::move(sink)) {}

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (!sink_ || level < GetInfoLogLevel()) return;
    char text[1024];
    int n = std::vsnprintf(text, sizeof text, format, ap);
    if (n <= 0) return;
    std::string_view line(text,
                          std::min<std::size_t>(static_cast<std::size_t>(n), sizeof text - 1));
    while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    sink_(level_of(level), line);
  }

 private:
  std::function<void(store_log_level, std::string_view)> sink_;
};

// Whether the store takes writes; shared with RocksDB's listener, which may outlive the store's
// own state by a moment while a database closes.
struct health_state {
  std::function<void(const store_health&)> observer;
  std::atomic<bool> writable{true};
  std::atomic<std::uint64_t> failures{0};
  mutable std::mutex mutex;
  std::string reason;

  void failed(std::string why) {
    failures.fetch_add(1, std::memory_order_relaxed);
    store_health now{false, {}};
    {
      std::lock_guard lock(mutex);
      if (!writable.load()) return;  // already failing: told once, when it changed
      reason = std::move(why);
      now.reason = reason;
      writable = false;
    }
    if (observer) observer(now);
  }
  void restored() {
    {
      std::lock_guard lock(mutex);
      if (writable.load()) return;
      writable = true;
      reason.clear();
    }
    if (observer) observer(store_health{true, {}});
  }
  store_health get() const {
    std::lock_guard lock(mutex);
    return {writable.load(), reason};
  }
};

// RocksDB's background errors (a flush or compaction that failed: full disk, unwritable folder)
// make the store failing; its own recovery, when it manages one, makes it writable again.
class health_listener final : public rocksdb::EventListener {
 public:
  explicit health_listener(std::shared_ptr<health_state> h) : health_(std::move(h)) {}
  // Errors of flushes, WAL and MANIFEST writes stop writes; a compaction that found no room is
  // a soft error and RocksDB goes on taking writes (the listener hears of an error before
  // RocksDB has given it its severity, so the reason decides).
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    if (error != nullptr && !error->ok() && reason != rocksdb::BackgroundErrorReason::kCompaction) {
      health_->failed("background: " + error->ToString());
    }
  }
  // RocksDB 7.8 would resume by itself once free space reaches its largest write buffer, but
  // leaves the database flagged as stopped afterwards (fixed upstream in 8.9): the store reopens
  // it instead (recover()), so RocksDB's own recovery is declined.
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    if (auto_recovery != nullptr) *auto_recovery = false;
  }

 private:
  std::shared_ptr<health_state> health_;
};

// One open database. Kept alive by every operation in progress and every chunk pinned from it,
// so a database replaced by a reopen closes only once nothing uses it.
struct instance {
  std::unique_ptr<rocksdb::DB> db;
  // default, manifests, chunks, fills, access, tombstones
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::atomic<std::uint64_t> tombstones{0};  // keys in the tombstones family (counted at open)
  rocksdb::ColumnFamilyHandle* defaults() const { return handles[0]; }
  rocksdb::ColumnFamilyHandle* manifests() const { return handles[1]; }
  rocksdb::ColumnFamilyHandle* chunks() const { return handles[2]; }
  rocksdb::ColumnFamilyHandle* fills() const { return handles[3]; }
  rocksdb::ColumnFamilyHandle* access() const { return handles[4]; }
  rocksdb::ColumnFamilyHandle* tombstone_family() const { return handles[5]; }

  ~instance() {
    for (auto* h : handles) {
      if (db && h) db->DestroyColumnFamilyHandle(h);
    }
    if (db) db->Close();
  }
};

// The fill markers in `inst`: each names a generation whose chunks no manifest refers to yet.
std::vector<std::pair<object_key, std::uint64_t>> fill_markers(const instance& inst,
                                                               std::string& error) {
  std::vector<std::pair<object_key, std::uint64_t>> out;
  std::unique_ptr<rocksdb::Iterator> it(inst.db->NewIterator({}, inst.fills()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    auto nul = k.find('\0');
    if (nul == std::string_view::npos || k.size() != nul + 9) continue;
    if (auto key = object_key::decode(k.substr(0, nul))) {
      out.emplace_back(std::move(*key), get_be(k.substr(nul + 1)));
    }
  }
  if (!it->status().ok())
    error = "cannot scan the cache's fill markers: " + it->status().ToString();
  return out;
}

}  // namespace

struct store::impl {
  std::string path;
  std::function<void(store_log_level, std::string_view)> log;  // store_options::log
  std::mutex tombstone_mutex;                                  // put_tombstone's check and write
  // The block and blob cache every database of this store uses. Values pinned from it need only
  // it (RocksDB 7.8: a pinned block or blob releases a handle of this cache, nothing of the
  // database), so a chunk outlives a database that is closed and reopened under it.
  std::shared_ptr<rocksdb::Cache> cache;
  std::uint64_t overhead = 0;  // see store::overhead_bytes
  rocksdb::DBOptions db_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  std::unique_ptr<expiry_filter> manifest_expiry, chunk_expiry;  // the families' options point here
  key_ring keys;                                                 // empty: no encryption
  damage_observer damaged;
  std::shared_ptr<health_state> health = std::make_shared<health_state>();
  std::atomic<std::uint64_t> reopens{0};

  // The folder as opened (device and inode): a folder removed or replaced underneath takes no
  // writes that last, though RocksDB's open files go on accepting some for a while.
  dev_t folder_device = 0;
  ino_t folder_inode = 0;
  void remember_folder() {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      folder_device = st.st_dev;
      folder_inode = st.st_ino;
    }
  }

  mutable std::mutex instance_mutex;
  std::shared_ptr<instance> current;  // null while a failed database waits to be reopened
  std::shared_ptr<instance> retired;  // that failed database, until its last user lets go

  std::shared_ptr<instance> get() const {
    std::lock_guard lock(instance_mutex);
    return current;
  }

  // RocksDB's answer to a write, as the store's result; a failure makes the store failing.
  result written(const rocksdb::Status& s, std::string_view what) {
    if (!s.ok()) health->failed(std::string(what) + ": " + s.ToString());
    return to_result(s, what);
  }
  result no_database(std::string_view what) {
    health->failed(std::string(what) + ": the database is being reopened");
    return fail(std::string(what) + ": the cache's database is being reopened");
  }

  // Opens the database at `path` (creating the folder and the database when missing) and removes
  // the chunks of fills that were interrupted, and of objects removed while being read, but for
  // those `in_use` says are still running or read. Sets `removed` to how many.
  std::shared_ptr<instance> open_instance(std::string& error, std::uint64_t& removed,
                                          const store::in_use_check& in_use = {}) {
    auto inst = std::make_shared<instance>();
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(db_options, path, families, &inst->handles, &raw);
    if (!s.ok()) {
      error = "cannot open the cache at " + path + ": " + s.ToString();
      return nullptr;
    }
    inst->db.reset(raw);
    {
      std::unique_ptr<rocksdb::Iterator> it(inst->db->NewIterator({}, inst->tombstone_family()));
      std::uint64_t n = 0;
      for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
      inst->tombstones = n;
    }
    auto interrupted = fill_markers(*inst, error);
    if (!error.empty()) return nullptr;
    removed = 0;
    for (const auto& [key, generation] : interrupted) {
      if (in_use && in_use(key, generation)) continue;
      if (auto aborted = abort_fill(*inst, key, generation); !aborted.ok()) {
        error = "cannot remove an interrupted fill: " + aborted.error();
        return nullptr;
      }
      ++removed;
    }
    return inst;
  }

  static result abort_fill(const instance& inst, const object_key& key, std::uint64_t generation) {
    rocksdb::WriteBatch batch;
    auto s = batch.DeleteRange(inst.chunks(), generation_prefix(key, generation),
                               generation_end(key, generation));
    if (s.ok()) s = batch.Delete(inst.fills(), generation_prefix(key, generation));
    if (s.ok()) s = inst.db->Write({}, &batch);
    return to_result(s, "abort fill");
  }

  // Parsed manifests of recent finds: a hit then costs neither a RocksDB read nor a JSON parse,
  // nor (with keys) a check of the manifest's authenticator: each is checked once, when read.
  // Every change to a manifest forgets its entry and bumps the epoch, before and after the write;
  // a find inserts only when no change began since its read, so it never keeps a replaced one.
  struct remembered {
    manifest m;
    result verdict;  // servable_under(keys, key, m)
  };
  std::mutex memo_mutex;
  std::unordered_map<std::string, remembered> memo;
  std::uint64_t memo_epoch = 0;
  static constexpr std::size_t memo_limit = 8192;

  std::optional<manifest> memo_find(const std::string& encoded, std::uint64_t& epoch) {
    std::lock_guard lock(memo_mutex);
    epoch = memo_epoch;
    if (auto it = memo.find(encoded); it != memo.end()) return it->second.m;
    return std::nullopt;
  }
  // The remembered verdict on `m`, when `m` is the manifest remembered for `encoded`.
  std::optional<result> memo_verdict(const std::string& encoded, const manifest& m) {
    std::lock_guard lock(memo_mutex);
    auto it = memo.find(encoded);
    if (it == memo.end() || it->second.m != m) return std::nullopt;
    return it->second.verdict;
  }
  void memo_insert(const std::string& encoded, remembered r, std::uint64_t epoch) {
    std::lock_guard lock(memo_mutex);
    if (epoch != memo_epoch) return;
    if (memo.size() >= memo_limit) memo.clear();
    memo.emplace(encoded, std::move(r));
  }
  void memo_forget(const std::string& encoded) {
    {
      std::lock_guard lock(memo_mutex);
      memo.erase(encoded);
      ++memo_epoch;
    }
    hot->forget(encoded + '\0');  // its chunks, every generation: their memory goes now
  }
  void memo_forget_all() {
    {
      std::lock_guard lock(memo_mutex);
      memo.clear();
      ++memo_epoch;
    }
    hot->clear();
  }

  // The chunks of recent hits (committed objects' only: a fill's chunks are read once each).
  std::unique_ptr<hot_chunks> hot;
};

store::store(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
store::~store() = default;

recgate::result<std::unique_ptr<store>> store::open(const store_options& options) {
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;

  auto i = std::make_unique<impl>();
  i->cache = cache;
  i->hot = std::make_unique<hot_chunks>(options.block_cache_bytes / 4);
  i->path = options.path;
  i->log = options.log;
  i->keys = key_ring(options.encryption_keys);
  i->health->observer = options.on_health;

  auto& db_options = i->db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // Opening replays the WAL into memtables without writing new files: a database whose disk
  // filled up can be opened again with little free space, and then make room.
  db_options.avoid_flush_during_recovery = true;
  // RocksDB's log goes to the gateway's, never to a LOG file in the (possibly full) folder.
  db_options.info_log = std::make_shared<log_bridge>(options.log);
  db_options.listeners.push_back(std::make_shared<health_listener>(i->health));
  // WAL files are deleted once every family with data in them has flushed: without a bound, the
  // small families (a few bytes a commit) would keep every WAL since the start alive. An eighth
  // of the filesystem at most, so a small volume is not filled by write-ahead copies of audio;
  // the chunks' memtable likewise. Blob files small beside the volume (1/256 of it, 1 to 256 MiB;
  // a flush of the chunks' memtable ends one too): a file goes once every chunk in it is gone,
  // so the less of other objects a file holds, the more of the disk an eviction gives back.
  std::uint64_t wal_bound = 32 << 20;
  std::uint64_t chunk_memtable = 8 << 20;
  std::uint64_t blob_file_bytes = 256 << 20;
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (struct statvfs fs{}; ::statvfs(options.path.c_str(), &fs) == 0) {
    auto size = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
    wal_bound = std::clamp<std::uint64_t>(size / 8, 1 << 20, wal_bound);
    chunk_memtable = std::clamp<std::uint64_t>(size / 16, 1 << 20, chunk_memtable);
    blob_file_bytes = std::clamp<std::uint64_t>(size / 256, 1 << 20, blob_file_bytes);
  }
  db_options.max_total_wal_size = wal_bound;
  // No preallocation: RocksDB fallocates each WAL file in blocks of up to the WAL bound (and table
  // files likewise), space the folder holds beyond its files' sizes: measured 45 MiB above the
  // files on a 320 MiB volume, enough to fill a disk sized for what the files hold.
  db_options.allow_fallocate = false;
  i->overhead = wal_bound + 2 * chunk_memtable;

  rocksdb::ColumnFamilyOptions small;
  small.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // The small families are flushed when the WAL bound says so, never because their memtable is
  // full: RocksDB 7.8 leaks a reference when a memtable switch fails with several families due
  // at once (DBImpl::ScheduleFlushes), which aborts the close that recovery needs. Only the
  // chunks' family fills its memtable. (Memory stays bounded by the WAL bound.)
  small.write_buffer_size = 2 * wal_bound;
  rocksdb::ColumnFamilyOptions audio = small;
  audio.enable_blob_files = true;
  audio.min_blob_size = 0;  // every chunk value is a blob
  audio.blob_compression_type = rocksdb::kNoCompression;
  audio.compression = rocksdb::kNoCompression;
  audio.enable_blob_garbage_collection = true;
  audio.blob_cache = cache;
  audio.blob_file_size = blob_file_bytes;
  // Chunks wait in the memtable until a flush writes them to blob files: keep that bounded.
  audio.write_buffer_size = chunk_memtable;

  rocksdb::ColumnFamilyOptions manifests = small;
  if (options.max_age_seconds > 0) {
    auto now = options.now_unix ? options.now_unix : system_now;
    i->manifest_expiry = std::make_unique<expiry_filter>(false, options.max_age_seconds, now);
    i->chunk_expiry = std::make_unique<expiry_filter>(true, options.max_age_seconds, now);
    manifests.compaction_filter = i->manifest_expiry.get();
    audio.compaction_filter = i->chunk_expiry.get();
  }
  i->families = {
      {rocksdb::kDefaultColumnFamilyName, small},
      {cf_manifests, manifests},
      {cf_chunks, audio},
      {cf_fills, small},
      {cf_access, small},
      {cf_tombstones, small},
  };
  std::uint64_t removed = 0;
  std::string error;
  i->current = i->open_instance(error, removed);
  if (!i->current) return fail(std::move(error));
  i->remember_folder();
  std::unique_ptr<store> st(new store(std::move(i)));
  st->interrupted_removed_ = removed;
  return st;
}

std::optional<manifest> store::find(const object_key& key) {
  auto encoded = key.encoded();
  std::uint64_t epoch = 0;
  if (auto m = impl_->memo_find(encoded, epoch)) return m;
  auto inst = impl_->get();
  if (!inst) return std::nullopt;
  std::string value;
  auto s = inst->db->Get({}, inst->manifests(), encoded, &value);
  if (!s.ok()) return std::nullopt;
  auto m = manifest::parse(value);
  if (m) impl_->memo_insert(encoded, {*m, servable_under(impl_->keys, key, *m)}, epoch);
  return m;
}

std::optional<chunk> store::read_chunk(const object_key& key, std::uint64_t generation,
                                       std::uint32_t index, bool keep_in_cache, bool* unavailable) {
  auto inst = impl_->get();
  if (unavailable != nullptr) *unavailable = !inst;
  if (!inst) return std::nullopt;
  auto name = chunk_key(key, generation, index);
  if (keep_in_cache) {
    if (auto held = impl_->hot->find(name)) return chunk(std::move(held->owner), held->bytes);
  }
  // The chunk's owner holds the pinned value and the cache it is pinned in (see impl::cache),
  // not the database: a failed database can close while readers still hold chunks.
  struct pinned {
    std::shared_ptr<rocksdb::Cache> cache;  // destroyed after the value releases its handle
    rocksdb::PinnableSlice value;
  };
  auto holder = std::make_shared<pinned>();
  holder->cache = impl_->cache;
  rocksdb::ReadOptions options;
  options.fill_cache = keep_in_cache;
  auto s = inst->db->Get(options, inst->chunks(), name, &holder->value);
  inst.reset();
  if (!s.ok()) {
    // A chunk that is not there, or that RocksDB's checksums reject, damages the object; an I/O
    // error may pass.
    if (s.IsNotFound()) report_damaged(key, generation, index, "is missing");
    if (s.IsCorruption()) report_damaged(key, generation, index, "is corrupt: " + s.ToString());
    return std::nullopt;
  }
  std::string_view bytes(holder->value.data(), holder->value.size());
  if (impl_->keys.empty()) {
    chunk read(std::shared_ptr<const void>(holder, holder.get()), bytes);
    if (keep_in_cache) impl_->hot->insert(name, {read.owner_, read.bytes_});
    return read;
  }

  auto header = parse_sealed(bytes);
  auto status = open_status::malformed;
  std::shared_ptr<char[]> plain;
  if (header) {
    plain = std::make_shared_for_overwrite<char[]>(header->plaintext_size);
    auto encoded = key.encoded();
    status = open_chunk(impl_->keys, {encoded, generation, index}, bytes,
                        std::span<char>(plain.get(), header->plaintext_size));
  }
  if (status != open_status::ok) {
    report_damaged(key, generation, index, std::string(to_string(status)));
    return std::nullopt;
  }
  holder.reset();  // the ciphertext leaves RocksDB's cache pin; the plaintext is this chunk's own
  std::string_view view(plain.get(), header->plaintext_size);
  chunk read(std::move(plain), view);
  if (keep_in_cache) impl_->hot->insert(name, {read.owner_, read.bytes_});
  return read;
}

void store::report_damaged(const object_key& key, std::uint64_t generation, std::uint32_t index,
                           const std::string& why) {
  // A fill's chunk gone with its fill (aborted, purged), or an object replaced or removed
  // meanwhile: nothing committed is damaged.
  auto m = find(key);
  if (!m || m->generation != generation) return;
  if (impl_->damaged) {
    impl_->damaged(key, generation,
                   "chunk " + std::to_string(index) + " of generation " +
                       std::to_string(generation) + " " + why);
  }
}

result<void> store::servable(const object_key& key, const manifest& m) const {
  // Without keys the manifest alone decides: nothing to remember, nothing allocated on a hit.
  if (impl_->keys.empty()) return servable_under(impl_->keys, key, m);
  if (auto remembered = impl_->memo_verdict(key.encoded(), m)) return *remembered;
  return servable_under(impl_->keys, key, m);
}

void store::on_damaged(damage_observer observer) {
  assert(!impl_->damaged);  // once, before the first read_chunk
  impl_->damaged = std::move(observer);
}

store::result store::begin_fill(const object_key& key, std::uint64_t generation) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("begin fill");
  return impl_->written(inst->db->Put({}, inst->fills(), generation_prefix(key, generation), ""),
                        "begin fill");
}

store::result store::put_chunk(const object_key& key, std::uint64_t generation, std::uint32_t index,
                               std::string_view data) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("write chunk");
  std::optional<std::string> sealed;
  if (!impl_->keys.empty()) {
    auto encoded = key.encoded();
    sealed = seal_chunk(impl_->keys, {encoded, generation, index}, data);
    if (!sealed) return fail("write chunk: cannot encrypt it");
    data = *sealed;
  }
  return impl_->written(inst->db->Put({}, inst->chunks(), chunk_key(key, generation, index),
                                      rocksdb::Slice(data.data(), data.size())),
                        "write chunk");
}

store::result store::commit(const object_key& key, const manifest& given,
                            std::string_view last_chunk) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("commit");
  manifest m = given;
  m.key_id.clear();
  m.mac.clear();
  std::optional<std::string> sealed;
  if (!impl_->keys.empty()) {
    m.key_id = impl_->keys.current().id;
    // Authenticate the fields as a reader will parse them back (serialize may replace bytes).
    if (auto back = manifest::parse(m.serialize())) m = *back;
    auto tag = manifest_tag(impl_->keys, m.key_id, canonical_manifest(key, m));
    if (!tag) return fail("commit: cannot authenticate the manifest");
    m.mac = *tag;
    if (!last_chunk.empty()) {
      auto encoded = key.encoded();
      sealed = seal_chunk(impl_->keys, {encoded, m.generation, m.chunk_count() - 1}, last_chunk);
      if (!sealed) return fail("commit: cannot encrypt the last chunk");
      last_chunk = *sealed;
    }
  }
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  // A previous object under this key (expired, or replaced): its chunks are marked for removal
  // in the same batch, and go once nobody reads them (remove_stale_fills).
  if (auto old = find(key); old && old->generation != m.generation) {
    s = batch.Put(inst->fills(), generation_prefix(key, old->generation), "");
  }
  if (s.ok() && !last_chunk.empty()) {
    s = batch.Put(inst->chunks(), chunk_key(key, m.generation, m.chunk_count() - 1),
                  rocksdb::Slice(last_chunk.data(), last_chunk.size()));
  }
  if (s.ok()) s = batch.Put(inst->manifests(), key.encoded(), m.serialize());
  if (s.ok()) s = batch.Delete(inst->fills(), generation_prefix(key, m.generation));
  auto encoded = key.encoded();
  impl_->memo_forget(encoded);
  if (s.ok()) s = inst->db->Write({}, &batch);
  impl_->memo_forget(encoded);
  return impl_->written(s, "commit");
}

store::result store::abort_fill(const object_key& key, std::uint64_t generation) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("abort fill");
  auto aborted = impl::abort_fill(*inst, key, generation);
  if (!aborted.ok()) impl_->health->failed(aborted.error());
  return aborted;
}

store::result store::remove(const object_key& key, std::optional<std::uint64_t> only_generation) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("remove");
  auto m = find(key);
  if (!m || (only_generation && m->generation != *only_generation)) return {};
  rocksdb::WriteBatch batch;
  auto s = batch.Delete(inst->manifests(), key.encoded());
  if (s.ok()) s = batch.Delete(inst->access(), key.encoded());
  // The chunks are marked, not deleted: a response reading them finishes; they go once nobody
  // reads them (remove_stale_fills), or at the next open.
  if (s.ok()) s = batch.Put(inst->fills(), generation_prefix(key, m->generation), "");
  auto encoded = key.encoded();
  impl_->memo_forget(encoded);
  if (s.ok()) s = inst->db->Write({}, &batch);
  impl_->memo_forget(encoded);
  return impl_->written(s, "remove");
}

recgate::result<std::vector<std::string>> store::remove_recording(const std::string& account_sid,
                                                                  const std::string& sid) {
  auto inst = impl_->get();
  if (!inst) return fail(impl_->no_database("purge").error());
  // The recording's objects: the keys under its prefix (fixed-width UUIDs, so no other
  // recording's key shares it).
  const std::string prefix = account_sid + "/" + sid + "/";
  std::vector<std::pair<std::string, manifest>> objects;
  {
    std::unique_ptr<rocksdb::Iterator> it(inst->db->NewIterator({}, inst->manifests()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto m = manifest::parse(std::string_view(it->value().data(), it->value().size()));
      if (m) objects.emplace_back(it->key().ToString(), std::move(*m));
    }
    if (!it->status().ok())
      return fail("cannot scan the recording's objects: " + it->status().ToString());
  }
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  std::vector<std::string> removed;
  for (const auto& [encoded, m] : objects) {
    auto key = object_key::decode(encoded);
    if (!key) continue;
    s = batch.Delete(inst->manifests(), encoded);
    if (s.ok()) s = batch.Delete(inst->access(), encoded);
    if (s.ok())
      s = batch.Put(inst->fills(), generation_prefix(*key, m.generation), "");  // as remove
    if (!s.ok()) break;
    removed.push_back(encoded);
  }
  if (removed.empty() && s.ok()) return removed;
  for (const auto& k : removed) impl_->memo_forget(k);
  if (s.ok()) s = inst->db->Write({}, &batch);
  for (const auto& k : removed) impl_->memo_forget(k);
  if (auto w = impl_->written(s, "purge"); !w.ok()) return fail(w.error());
  return removed;
}

store::result store::put_tombstone(const std::string& account_sid, const std::string& sid,
                                   std::int64_t unix_time) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("tombstone");
  const auto key = tombstone_key(account_sid, sid);
  std::lock_guard lock(impl_->tombstone_mutex);  // so a tombstone written twice counts once
  std::string existing;
  const bool had = inst->db->Get({}, inst->tombstone_family(), key, &existing).ok();
  auto w = impl_->written(
      inst->db->Put({}, inst->tombstone_family(), key, std::to_string(unix_time)), "tombstone");
  if (w.ok() && !had) ++inst->tombstones;
  return w;
}

bool store::tombstoned(const std::string& account_sid, const std::string& sid) {
  auto inst = impl_->get();
  if (!inst || inst->tombstones.load(std::memory_order_relaxed) == 0) return false;
  std::string value;
  return inst->db->Get({}, inst->tombstone_family(), tombstone_key(account_sid, sid), &value).ok();
}

std::uint64_t store::tombstones() const {
  auto inst = impl_->get();
  return inst ? inst->tombstones.load(std::memory_order_relaxed) : 0;
}

std::vector<store::entry> store::scan() {
  std::vector<entry> out;
  auto inst = impl_->get();
  if (!inst) return out;
  std::unique_ptr<rocksdb::Iterator> it(inst->db->NewIterator({}, inst->manifests()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = object_key::decode(std::string_view(it->key().data(), it->key().size()));
    auto m = manifest::parse(std::string_view(it->value().data(), it->value().size()));
    if (!key || !m) continue;
    entry e{*key, m->length, m->created_unix};
    std::string access;
    if (inst->db->Get({}, inst->access(), it->key(), &access).ok() && access.size() == 8) {
      e.last_access = static_cast<std::int64_t>(get_be(access));
    }
    out.push_back(std::move(e));
  }
  return out;
}

store::result store::record_access(
    const std::vector<std::pair<object_key, std::int64_t>>& accesses) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("record access times");
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  for (const auto& [key, when] : accesses) {
    std::string value;
    put_be(value, static_cast<std::uint64_t>(when), 8);
    s = batch.Put(inst->access(), key.encoded(), value);
    if (!s.ok()) break;
  }
  if (s.ok()) s = inst->db->Write({}, &batch);
  return impl_->written(s, "record access times");
}

store::result store::compact() {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("compact");
  rocksdb::CompactRangeOptions options;
  // Blob files too: expired chunks must leave the disk, not only the index.
  options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  options.blob_garbage_collection_age_cutoff = 1.0;
  // Expiry may drop manifests: like any other change to them, forget what is remembered before
  // (a find reading meanwhile then keeps nothing) and after (nothing kept outlives them).
  impl_->memo_forget_all();
  rocksdb::Status s;
  for (auto* cf : {inst->manifests(), inst->chunks()}) {
    s = inst->db->CompactRange(options, cf, nullptr, nullptr);
    if (!s.ok()) break;
  }
  impl_->memo_forget_all();
  return to_result(s, "compact");  // maintenance: a failure here does not stop writes
}

namespace {

// The share of the oldest blob files to collect (RocksDB's blob_garbage_collection_age_cutoff):
// the longest run of oldest files whose live chunks fit in `budget`, ended at its last file that
// holds garbage (rewriting files with none gives nothing back). 0: nothing worth collecting.
double garbage_cutoff(std::vector<rocksdb::BlobMetaData> files, std::uint64_t budget) {
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.blob_file_number < b.blob_file_number; });
  std::uint64_t live = 0;
  std::size_t worth = 0;  // files in the prefix up to the last one with garbage
  for (std::size_t k = 0; k < files.size(); ++k) {
    const auto& f = files[k];
    live += f.total_blob_bytes - std::min(f.total_blob_bytes, f.garbage_blob_bytes);
    if (live > budget) break;
    if (f.garbage_blob_bytes > 0) worth = k + 1;
  }
  if (worth == 0) return 0;
  // RocksDB collects the oldest floor(cutoff * files): aim between two counts.
  return std::min(1.0, (static_cast<double>(worth) + 0.5) / static_cast<double>(files.size()));
}

}  // namespace

store::result store::reclaim(std::uint64_t rewrite_budget) {
  auto inst = impl_->get();
  if (!inst) return impl_->no_database("reclaim");
  rocksdb::CompactRangeOptions options;
  // The index first: blob files whose chunks are all gone are deleted, live ones stay put.
  options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kDisable;
  impl_->memo_forget_all();  // expiry may drop manifests (see compact)
  rocksdb::Status s;
  for (auto* cf : {inst->manifests(), inst->chunks(), inst->access()}) {
    s = inst->db->CompactRange(options, cf, nullptr, nullptr);
    if (!s.ok()) break;
  }
  if (s.ok() && rewrite_budget > 0) {
    rocksdb::ColumnFamilyMetaData meta;
    inst->db->GetColumnFamilyMetaData(inst->chunks(), &meta);
    if (auto cutoff = garbage_cutoff(std::move(meta.blob_files), rewrite_budget); cutoff > 0) {
      options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
      options.blob_garbage_collection_age_cutoff = cutoff;
      s = inst->db->CompactRange(options, inst->chunks(), nullptr, nullptr);
    }
  }
  impl_->memo_forget_all();
  return to_result(s, "reclaim");  // maintenance: a failure here does not stop writes
}

store::blob_usage store::blobs() const {
  blob_usage u;
  auto inst = impl_->get();
  if (!inst) return u;
  rocksdb::ColumnFamilyMetaData meta;
  inst->db->GetColumnFamilyMetaData(inst->chunks(), &meta);
  for (const auto& f : meta.blob_files) {
    ++u.files;
    u.bytes += f.blob_file_size;
    u.garbage += f.garbage_blob_bytes;
  }
  return u;
}

std::optional<disk_usage> store::usage() const {
  struct statvfs fs {};
  if (::statvfs(impl_->path.c_str(), &fs) != 0) return std::nullopt;
  disk_usage u;
  u.free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  u.filesystem = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(impl_->path, ec), end; !ec && it != end;
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      u.used += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  }
  if (ec) return std::nullopt;
  return u;
}

std::uint64_t store::remove_stale_fills(const in_use_check& running) {
  auto inst = impl_->get();
  if (!inst) return 0;
  std::string error;
  std::uint64_t removed = 0;
  for (const auto& [key, generation] : fill_markers(*inst, error)) {
    if (running && running(key, generation)) continue;
    if (auto aborted = impl::abort_fill(*inst, key, generation); !aborted.ok()) {
      impl_->health->failed(aborted.error());
      break;
    }
    impl_->hot->forget(generation_prefix(key, generation));
    ++removed;
  }
  return removed;
}

store::totals store::count() {
  totals t;
  auto inst = impl_->get();
  if (!inst) return t;
  std::unique_ptr<rocksdb::Iterator> it(inst->db->NewIterator({}, inst->manifests()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (auto m = manifest::parse(std::string_view(it->value().data(), it->value().size()))) {
      ++t.objects;
      t.bytes += m->length;
    }
  }
  return t;
}

bool store::check_folder() {
  struct stat st {};
  bool same = ::stat(impl_->path.c_str(), &st) == 0 && st.st_dev == impl_->folder_device &&
              st.st_ino == impl_->folder_inode;
  if (!same) impl_->health->failed("the cache folder " + impl_->path + " was removed or replaced");
  return same;
}

store_health store::health() const { return impl_->health->get(); }

bool store::writable() const { return impl_->health->writable.load(std::memory_order_relaxed); }

std::uint64_t store::write_failures() const {
  return impl_->health->failures.load(std::memory_order_relaxed);
}

std::uint64_t store::reopens() const { return impl_->reopens.load(); }

std::uint64_t store::overhead_bytes() const { return impl_->overhead; }

std::uint64_t store::held_chunk_bytes() const { return impl_->hot->bytes(); }

namespace {

// Whether the folder can take writes now (creating it when it is gone): a file of its own written,
// synced and removed, and at least `needed` bytes free. Says why not otherwise.
bool folder_takes_writes(const std::string& path, std::uint64_t needed, std::string& why,
                         bool& no_space) {
  no_space = false;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    why = "cannot create " + path + ": " + ec.message();
    return false;
  }
  struct statvfs fs {};
  if (::statvfs(path.c_str(), &fs) == 0) {
    auto free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free < needed) {
      why = std::to_string(free >> 10) + " KiB free, " + std::to_string(needed >> 10) +
            " KiB needed to reopen";
      no_space = true;
      return false;
    }
  }
  auto probe = (std::filesystem::path(path) / ".recgate-write-test").string();
  FILE* f = std::fopen(probe.c_str(), "wb");
  if (f == nullptr) {
    why = "cannot create a file in " + path + ": " + std::strerror(errno);
    return false;
  }
  static const std::string block(4096, 'w');
  bool ok = std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0 &&
            ::fsync(::fileno(f)) == 0;
  int saved = errno;
  std::fclose(f);
  std::filesystem::remove(probe, ec);
  if (!ok) {
    why = "cannot write a file in " + path + ": " + std::strerror(saved);
    no_space = saved == ENOSPC;
  }
  return ok;
}

}  // namespace

recgate::result<store::recovery> store::recover(bool wipe_when_full, const in_use_check& in_use) {
  auto& i = *impl_;
  if (i.health->writable.load()) return recovery::was_writable;
  // RocksDB cannot resume from what makes a folder fail (an unwritable or deleted folder is fatal
  // to it, and 7.8 leaves a database resumed from a full disk flagged as stopped): the database
  // is closed and opened again, once the folder takes writes (a test file, with room to reopen);
  // until then the failed one goes on serving reads. A folder gone: a new, empty database.
  //
  // When the disk stays too full to reopen (wipe_when_full), or the reopen itself finds no room
  // to replay its write-ahead log, the folder is emptied and a new database opened: it is a cache,
  // every object can be fetched again, and the gateway caches again rather than never.
  constexpr std::uint64_t needed = 1 << 20;  // a MANIFEST, a WAL, OPTIONS, a first flush
  bool no_space = false;
  bool wipe = false;
  std::string why;
  if (i.get() && !folder_takes_writes(i.path, needed, why, no_space)) {
    if (!no_space) return fail(std::move(why));
    // Full. When the cache itself fills the disk (what others hold is under a tenth of it),
    // waiting cannot help (nothing can be evicted from a database that takes no writes): it is
    // emptied now. Otherwise it waits for the others to free space, and is emptied only after
    // wipe_when_full says so.
    auto u = usage();
    bool ours =
        u && u->filesystem - std::min(u->filesystem, u->free + u->used) < u->filesystem / 10;
    if (!ours && !wipe_when_full) return fail(std::move(why));
    wipe = true;
  }
  {
    // From here on nothing new uses the failed database; readers holding chunks keep them, and
    // their next read waits out the reopen.
    std::lock_guard lock(i.instance_mutex);
    if (i.current) i.retired = std::move(i.current);
  }
  i.memo_forget_all();
  {
    std::unique_lock lock(i.instance_mutex);
    if (i.retired && i.retired.use_count() > 1) {
      return fail("waiting for " + std::to_string(i.retired.use_count() - 1) +
                  " operations on the failed database to end");
    }
    auto closing = std::move(i.retired);
    lock.unlock();
    closing.reset();  // closes it (and frees its lock on the folder), outside the lock
  }
  bool wiped = false;
  auto empty_folder = [&] {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(i.path, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::filesystem::remove_all(it->path(), ec);
    }
    wiped = true;
  };
  if (wipe) empty_folder();
  std::string error;
  std::uint64_t removed = 0;
  auto reopened = i.open_instance(error, removed, in_use);
  if (!reopened && !wipe && error.find("No space left") != std::string::npos) {
    empty_folder();
    error.clear();
    reopened = i.open_instance(error, removed, in_use);
  }
  if (!reopened) return fail(std::move(error));
  // A write through to a file of its own tells whether writes really work now.
  auto s = reopened->db->Put({}, reopened->defaults(), "recgate.probe", "1");
  if (s.ok()) s = reopened->db->Flush(rocksdb::FlushOptions(), reopened->defaults());
  {
    std::lock_guard lock(i.instance_mutex);
    i.current = reopened;
  }
  i.remember_folder();
  i.memo_forget_all();
  ++i.reopens;
  if (!s.ok()) return fail("reopened, but a test write failed: " + s.ToString());
  i.health->restored();
  return wiped ? recovery::wiped : recovery::reopened;
}

}  // namespace recgate::cache
