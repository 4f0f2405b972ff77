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
#include "cache/store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "cache/bytes.hpp"

namespace recgate::cache {
namespace {

constexpr const char* cf_manifests = "manifests";
constexpr const char* cf_chunks = "chunks";
constexpr const char* cf_fills = "fills";
constexpr const char* cf_access = "access";

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

  Decision FilterV2(int, const rocksdb::Slice& key, ValueType type,
                    const rocksdb::Slice& value, std::string*, std::string*) const override {
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

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

// Why `m` cannot be served under `keys` (see store::unreadable_reason); nullopt when it can.
// Names key ids, never key material.
std::optional<std::string> check_readable(const key_ring& keys, const object_key& key,
                                          const manifest& m) {
  if (keys.empty()) {
    if (m.key_id.empty()) return std::nullopt;
    return "stored encrypted, under key " + m.key_id + ", while encryption is off";
  }
  if (m.key_id.empty()) return "stored unencrypted while encryption is on";
  if (keys.find(m.key_id) == nullptr) {
    return "sealed under key " + m.key_id + ", which is not configured";
  }
  if (!check_manifest_tag(keys, m.key_id, canonical_manifest(key, m), m.mac)) {
    return "its manifest does not authenticate under key " + m.key_id;
  }
  return std::nullopt;
}

store::result to_result(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return std::nullopt;
  return std::string(what) + ": " + s.ToString();
}

}  // namespace

struct store::impl {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // default, manifests, chunks, fills, access
  std::unique_ptr<expiry_filter> manifest_expiry, chunk_expiry;
  rocksdb::ColumnFamilyHandle* manifests() const { return handles[1]; }
  rocksdb::ColumnFamilyHandle* chunks() const { return handles[2]; }
  rocksdb::ColumnFamilyHandle* fills() const { return handles[3]; }
  rocksdb::ColumnFamilyHandle* access() const { return handles[4]; }
  key_ring keys;  // empty: no encryption
  damage_observer damaged;

  // Parsed manifests of recent finds: a hit then costs neither a RocksDB read nor a JSON parse,
  // nor (with keys) a check of the manifest's authenticator: each is checked once, when read.
  // Every change to a manifest forgets its entry and bumps the epoch, before and after the write;
  // a find inserts only when no change began since its read, so it never keeps a replaced one.
  struct remembered {
    manifest m;
    std::optional<std::string> unreadable;  // check_readable(keys, key, m)
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
  bool memo_verdict(const std::string& encoded, const manifest& m,
                    std::optional<std::string>& unreadable) {
    std::lock_guard lock(memo_mutex);
    auto it = memo.find(encoded);
    if (it == memo.end() || it->second.m != m) return false;
    unreadable = it->second.unreadable;
    return true;
  }
  void memo_insert(const std::string& encoded, remembered r, std::uint64_t epoch) {
    std::lock_guard lock(memo_mutex);
    if (epoch != memo_epoch) return;
    if (memo.size() >= memo_limit) memo.clear();
    memo.emplace(encoded, std::move(r));
  }
  void memo_forget(const std::string& encoded) {
    std::lock_guard lock(memo_mutex);
    memo.erase(encoded);
    ++memo_epoch;
  }
  void memo_forget_all() {
    std::lock_guard lock(memo_mutex);
    memo.clear();
    ++memo_epoch;
  }

  ~impl() {
    for (auto* h : handles) {
      if (db && h) db->DestroyColumnFamilyHandle(h);
    }
    if (db) db->Close();
  }
};

store::store(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
store::~store() = default;

std::unique_ptr<store> store::open(const store_options& options, std::string& error) {
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;

  rocksdb::ColumnFamilyOptions small;
  small.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::ColumnFamilyOptions audio = small;
  audio.enable_blob_files = true;
  audio.min_blob_size = 0;  // every chunk value is a blob
  audio.blob_compression_type = rocksdb::kNoCompression;
  audio.compression = rocksdb::kNoCompression;
  audio.enable_blob_garbage_collection = true;
  audio.blob_cache = cache;
  // Chunks wait in the memtable until a flush writes them to blob files: keep that bounded.
  audio.write_buffer_size = 8 << 20;

  auto i = std::make_unique<impl>();
  i->keys = key_ring(options.encryption_keys);
  rocksdb::ColumnFamilyOptions manifests = small;
  if (options.max_age_seconds > 0) {
    auto now = options.now_unix ? options.now_unix : system_now;
    i->manifest_expiry = std::make_unique<expiry_filter>(false, options.max_age_seconds, now);
    i->chunk_expiry = std::make_unique<expiry_filter>(true, options.max_age_seconds, now);
    manifests.compaction_filter = i->manifest_expiry.get();
    audio.compaction_filter = i->chunk_expiry.get();
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families{
      {rocksdb::kDefaultColumnFamilyName, small},
      {cf_manifests, manifests},
      {cf_chunks, audio},
      {cf_fills, small},
      {cf_access, small},
  };
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(db_options, options.path, families, &i->handles, &raw);
  if (!s.ok()) {
    error = "cannot open the cache at " + options.path + ": " + s.ToString();
    return nullptr;
  }
  i->db.reset(raw);
  std::unique_ptr<store> st(new store(std::move(i)));

  // Interrupted fills: each marker names a generation whose chunks no manifest refers to.
  std::unique_ptr<rocksdb::Iterator> it(st->impl_->db->NewIterator({}, st->impl_->fills()));
  std::vector<std::pair<object_key, std::uint64_t>> interrupted;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    auto nul = k.find('\0');
    auto parts = k.substr(0, nul);
    auto first = parts.find('/');
    auto second = parts.find('/', first + 1);
    if (nul == std::string_view::npos || k.size() != nul + 9 || second == std::string_view::npos) {
      continue;
    }
    interrupted.push_back({object_key{std::string(parts.substr(0, first)),
                                      std::string(parts.substr(first + 1, second - first - 1)),
                                      std::string(parts.substr(second + 1))},
                           get_be(k.substr(nul + 1))});
  }
  if (!it->status().ok()) {
    error = "cannot scan the cache's fill markers: " + it->status().ToString();
    return nullptr;
  }
  it.reset();
  for (const auto& [key, generation] : interrupted) {
    if (auto err = st->abort_fill(key, generation)) {
      error = "cannot remove an interrupted fill: " + *err;
      return nullptr;
    }
  }
  st->interrupted_removed_ = interrupted.size();
  return st;
}

std::optional<manifest> store::find(const object_key& key) {
  auto encoded = key.encoded();
  std::uint64_t epoch = 0;
  if (auto m = impl_->memo_find(encoded, epoch)) return m;
  std::string value;
  auto s = impl_->db->Get({}, impl_->manifests(), encoded, &value);
  if (!s.ok()) return std::nullopt;
  auto m = manifest::parse(value);
  if (m) impl_->memo_insert(encoded, {*m, check_readable(impl_->keys, key, *m)}, epoch);
  return m;
}

std::optional<chunk> store::read_chunk(const object_key& key, std::uint64_t generation,
                                       std::uint32_t index, bool keep_in_cache) {
  auto value = std::make_shared<rocksdb::PinnableSlice>();
  rocksdb::ReadOptions options;
  options.fill_cache = keep_in_cache;
  auto s = impl_->db->Get(options, impl_->chunks(), chunk_key(key, generation, index), value.get());
  if (!s.ok()) {
    // A chunk that is not there, or that RocksDB's checksums reject, damages the object; an I/O
    // error may pass.
    if (s.IsNotFound()) report_damaged(key, generation, index, "is missing");
    if (s.IsCorruption()) report_damaged(key, generation, index, "is corrupt: " + s.ToString());
    return std::nullopt;
  }
  std::string_view bytes(value->data(), value->size());
  if (impl_->keys.empty()) return chunk(std::move(value), bytes);

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
  value.reset();  // the ciphertext leaves RocksDB's cache pin; the plaintext is this chunk's own
  std::string_view view(plain.get(), header->plaintext_size);
  return chunk(std::move(plain), view);
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

std::optional<std::string> store::unreadable_reason(const object_key& key,
                                                    const manifest& m) const {
  // Without keys the manifest alone decides: nothing to remember, nothing allocated on a hit.
  if (impl_->keys.empty()) return check_readable(impl_->keys, key, m);
  std::optional<std::string> unreadable;
  if (impl_->memo_verdict(key.encoded(), m, unreadable)) return unreadable;
  return check_readable(impl_->keys, key, m);
}

void store::on_damaged(damage_observer observer) { impl_->damaged = std::move(observer); }

store::result store::begin_fill(const object_key& key, std::uint64_t generation) {
  return to_result(impl_->db->Put({}, impl_->fills(), generation_prefix(key, generation), ""),
                   "begin fill");
}

store::result store::put_chunk(const object_key& key, std::uint64_t generation,
                               std::uint32_t index, std::string_view data) {
  std::optional<std::string> sealed;
  if (!impl_->keys.empty()) {
    auto encoded = key.encoded();
    sealed = seal_chunk(impl_->keys, {encoded, generation, index}, data);
    if (!sealed) return "write chunk: cannot encrypt it";
    data = *sealed;
  }
  return to_result(
      impl_->db->Put({}, impl_->chunks(), chunk_key(key, generation, index),
                     rocksdb::Slice(data.data(), data.size())),
      "write chunk");
}

store::result store::commit(const object_key& key, const manifest& given,
                            std::string_view last_chunk) {
  manifest m = given;
  m.key_id.clear();
  m.mac.clear();
  std::optional<std::string> sealed;
  if (!impl_->keys.empty()) {
    m.key_id = impl_->keys.current().id;
    // Authenticate the fields as a reader will parse them back (serialize may replace bytes).
    if (auto back = manifest::parse(m.serialize())) m = *back;
    auto tag = manifest_tag(impl_->keys, m.key_id, canonical_manifest(key, m));
    if (!tag) return "commit: cannot authenticate the manifest";
    m.mac = *tag;
    if (!last_chunk.empty()) {
      auto encoded = key.encoded();
      sealed = seal_chunk(impl_->keys, {encoded, m.generation, m.chunk_count() - 1}, last_chunk);
      if (!sealed) return "commit: cannot encrypt the last chunk";
      last_chunk = *sealed;
    }
  }
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  // A previous object under this key (expired, or replaced) loses its chunks in the same batch.
  if (auto old = find(key); old && old->generation != m.generation) {
    s = batch.DeleteRange(impl_->chunks(), generation_prefix(key, old->generation),
                          generation_end(key, old->generation));
  }
  if (s.ok() && !last_chunk.empty()) {
    s = batch.Put(impl_->chunks(), chunk_key(key, m.generation, m.chunk_count() - 1),
                  rocksdb::Slice(last_chunk.data(), last_chunk.size()));
  }
  if (s.ok()) s = batch.Put(impl_->manifests(), key.encoded(), m.serialize());
  if (s.ok()) s = batch.Delete(impl_->fills(), generation_prefix(key, m.generation));
  auto encoded = key.encoded();
  impl_->memo_forget(encoded);
  if (s.ok()) s = impl_->db->Write({}, &batch);
  impl_->memo_forget(encoded);
  return to_result(s, "commit");
}

store::result store::abort_fill(const object_key& key, std::uint64_t generation) {
  rocksdb::WriteBatch batch;
  auto s = batch.DeleteRange(impl_->chunks(), generation_prefix(key, generation),
                             generation_end(key, generation));
  if (s.ok()) s = batch.Delete(impl_->fills(), generation_prefix(key, generation));
  if (s.ok()) s = impl_->db->Write({}, &batch);
  return to_result(s, "abort fill");
}

store::result store::remove(const object_key& key, std::optional<std::uint64_t> only_generation) {
  auto m = find(key);
  if (!m || (only_generation && m->generation != *only_generation)) return std::nullopt;
  rocksdb::WriteBatch batch;
  auto s = batch.Delete(impl_->manifests(), key.encoded());
  if (s.ok()) s = batch.Delete(impl_->access(), key.encoded());
  if (s.ok()) {
    s = batch.DeleteRange(impl_->chunks(), generation_prefix(key, m->generation),
                          generation_end(key, m->generation));
  }
  auto encoded = key.encoded();
  impl_->memo_forget(encoded);
  if (s.ok()) s = impl_->db->Write({}, &batch);
  impl_->memo_forget(encoded);
  return to_result(s, "remove");
}

std::uint64_t store::remove_recording(const std::string& account_sid, const std::string& sid,
                                      std::string& error) {
  std::uint64_t removed = 0;
  for (const char* format : {"wav", "mp3"}) {
    object_key key{account_sid, sid, format};
    if (!find(key)) continue;
    if (auto err = remove(key)) {
      error = *err;
      return removed;
    }
    ++removed;
  }
  return removed;
}

std::vector<store::entry> store::scan() {
  std::vector<entry> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator({}, impl_->manifests()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = object_key::decode(std::string_view(it->key().data(), it->key().size()));
    auto m = manifest::parse(std::string_view(it->value().data(), it->value().size()));
    if (!key || !m) continue;
    entry e{*key, m->length, m->created_unix};
    std::string access;
    if (impl_->db->Get({}, impl_->access(), it->key(), &access).ok() && access.size() == 8) {
      e.last_access = static_cast<std::int64_t>(get_be(access));
    }
    out.push_back(std::move(e));
  }
  return out;
}

store::result store::record_access(
    const std::vector<std::pair<object_key, std::int64_t>>& accesses) {
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  for (const auto& [key, when] : accesses) {
    std::string value;
    put_be(value, static_cast<std::uint64_t>(when), 8);
    s = batch.Put(impl_->access(), key.encoded(), value);
    if (!s.ok()) break;
  }
  if (s.ok()) s = impl_->db->Write({}, &batch);
  return to_result(s, "record access times");
}

store::result store::compact() {
  rocksdb::CompactRangeOptions options;
  // Blob files too: expired chunks must leave the disk, not only the index.
  options.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  options.blob_garbage_collection_age_cutoff = 1.0;
  // Expiry may drop manifests: like any other change to them, forget what is remembered before
  // (a find reading meanwhile then keeps nothing) and after (nothing kept outlives them).
  impl_->memo_forget_all();
  rocksdb::Status s;
  for (auto* cf : {impl_->manifests(), impl_->chunks()}) {
    s = impl_->db->CompactRange(options, cf, nullptr, nullptr);
    if (!s.ok()) break;
  }
  impl_->memo_forget_all();
  return to_result(s, "compact");
}

store::totals store::count() {
  totals t;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator({}, impl_->manifests()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (auto m = manifest::parse(std::string_view(it->value().data(), it->value().size()))) {
      ++t.objects;
      t.bytes += m->length;
    }
  }
  return t;
}

}  // namespace recgate::cache
