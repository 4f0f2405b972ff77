// The RocksDB store, on a real database in a fresh temporary folder: the fill protocol, expiry,
// the manifest memo, and encryption at rest (sealed chunks, authenticated manifests, rotation).
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "cache/store.hpp"
#include "tests/support/small_filesystem.hpp"
#include "tests/support/temp_dir.hpp"

using namespace recgate::cache;
using test_support::temp_dir;

namespace {

std::unique_ptr<store> open_at(const temp_dir& dir, store_options options = {}) {
  options.path = dir.path.string();
  options.block_cache_bytes = 8 << 20;
  auto st = store::open(options);
  REQUIRE_MESSAGE(st.ok(), st.error());
  return std::move(*st);
}

// Why the store cannot serve `m`; "" when it can.
std::string why_not(const store& st, const object_key& k, const manifest& m) {
  auto verdict = st.servable(k, m);
  return verdict.ok() ? std::string() : verdict.error();
}

const object_key key{"720796a0-8ee9-4350-83bd-2d07a3121f1e", "19e436af-5688-4307-b03b-bdb2b42b8142",
                     "wav"};

manifest make_manifest(std::uint64_t length, std::uint64_t generation) {
  manifest m;
  m.length = length;
  m.content_type = "audio/x-wav";
  m.sha256_hex = std::string(64, 'a');
  m.created_unix = 1700000000;
  m.generation = generation;
  m.chunk_size = 4;
  return m;
}

const cipher_key key_a{"a", std::string(32, '\x11')};
const cipher_key key_b{"b-2024", std::string(32, '\x22')};

store_options with_keys(std::vector<cipher_key> keys) {
  store_options options;
  options.encryption_keys = std::move(keys);
  return options;
}

// A three-chunk object "abcdefghij" committed as generation `generation`.
void fill_object(store& st, std::uint64_t generation) {
  REQUIRE(st.begin_fill(key, generation).ok());
  REQUIRE(st.put_chunk(key, generation, 0, "abcd").ok());
  REQUIRE(st.put_chunk(key, generation, 1, "efgh").ok());
  REQUIRE(st.commit(key, make_manifest(10, generation), "ij").ok());
}

}  // namespace

TEST_CASE("manifests round-trip and reject what they did not write") {
  auto m = make_manifest(10, 7);
  m.last_modified = "Mon, 06 May 2024 17:20:11 GMT";
  auto back = manifest::parse(m.serialize());
  REQUIRE(back);
  CHECK(back->length == 10);
  CHECK(back->generation == 7);
  CHECK(back->chunk_count() == 3);
  CHECK(back->last_modified == m.last_modified);
  CHECK(back->etag() == "\"" + std::string(32, 'a') + "\"");
  CHECK_FALSE(manifest::parse("{}"));
  CHECK_FALSE(manifest::parse("not json"));
  CHECK_FALSE(manifest::parse(R"({"v":2})"));
}

TEST_CASE("an object is invisible until commit, then whole; it survives a reopen") {
  temp_dir dir("recgate-store-");
  {
    auto st = open_at(dir);
    REQUIRE(st->begin_fill(key, 5).ok());
    REQUIRE(st->put_chunk(key, 5, 0, "abcd").ok());
    REQUIRE(st->put_chunk(key, 5, 1, "efgh").ok());
    CHECK_FALSE(st->find(key));  // chunks alone are no object
    REQUIRE(st->commit(key, make_manifest(10, 5), "ij").ok());
    auto m = st->find(key);
    REQUIRE(m);
    CHECK(m->length == 10);
    CHECK(st->read_chunk(key, 5, 2) == std::string("ij"));
    CHECK(st->count().objects == 1);
    CHECK(st->count().bytes == 10);
  }
  auto st = open_at(dir);
  CHECK(st->interrupted_fills_removed() == 0);
  REQUIRE(st->find(key));
  CHECK(st->read_chunk(key, 5, 0) == std::string("abcd"));
  CHECK(st->read_chunk(key, 5, 1) == std::string("efgh"));
}

TEST_CASE("an interrupted fill's chunks are found and removed at the next open") {
  temp_dir dir("recgate-store-");
  {
    auto st = open_at(dir);
    REQUIRE(st->begin_fill(key, 9).ok());
    REQUIRE(st->put_chunk(key, 9, 0, "abcd").ok());
    REQUIRE(st->put_chunk(key, 9, 1, "efgh").ok());
    // No commit: the process "dies" here.
  }
  auto st = open_at(dir);
  CHECK(st->interrupted_fills_removed() == 1);
  CHECK_FALSE(st->find(key));
  CHECK_FALSE(st->read_chunk(key, 9, 0));
  CHECK_FALSE(st->read_chunk(key, 9, 1));
}

TEST_CASE("abort and remove leave nothing; a new fill replaces an old object's chunks") {
  temp_dir dir("recgate-store-");
  auto st = open_at(dir);
  REQUIRE(st->begin_fill(key, 1).ok());
  REQUIRE(st->put_chunk(key, 1, 0, "abcd").ok());
  REQUIRE(st->abort_fill(key, 1).ok());
  CHECK_FALSE(st->read_chunk(key, 1, 0));

  REQUIRE(st->begin_fill(key, 2).ok());
  REQUIRE(st->commit(key, make_manifest(3, 2), "xyz").ok());
  REQUIRE(st->begin_fill(key, 3).ok());
  REQUIRE(st->commit(key, make_manifest(2, 3), "uv").ok());
  CHECK(st->find(key)->generation == 3);
  // The old generation was marked with the commit; it goes once nobody reads it.
  CHECK(st->read_chunk(key, 2, 0) == std::string("xyz"));
  CHECK(st->remove_stale_fills({}) == 1);
  CHECK_FALSE(st->read_chunk(key, 2, 0));
  CHECK(st->read_chunk(key, 3, 0) == std::string("uv"));

  REQUIRE(st->remove(key).ok());
  CHECK_FALSE(st->find(key));
  // A generation still read (a lease in the cache) keeps its chunks; then they go.
  CHECK(st->remove_stale_fills([](const object_key&, std::uint64_t g) { return g == 3; }) == 0);
  CHECK(st->read_chunk(key, 3, 0) == std::string("uv"));
  CHECK(st->remove_stale_fills({}) == 1);
  CHECK_FALSE(st->read_chunk(key, 3, 0));
  CHECK(st->remove(key).ok());  // absent is fine
  CHECK(st->count().objects == 0);
}

TEST_CASE("hits hold their chunks in memory, up to a quarter of the block cache; removal lets go") {
  temp_dir dir("recgate-store-");
  auto st = open_at(dir);  // 8 MiB block cache: 2 MiB of held chunks
  const std::string part(512 << 10, 'p');
  REQUIRE(st->begin_fill(key, 1).ok());
  for (std::uint32_t i = 0; i < 5; ++i) REQUIRE(st->put_chunk(key, 1, i, part).ok());
  auto m = make_manifest(6 * part.size(), 1);
  m.chunk_size = static_cast<std::uint32_t>(part.size());
  REQUIRE(st->commit(key, m, part).ok());

  // A fill's reader holds nothing (each chunk is read once).
  CHECK((st->read_chunk(key, 1, 0, false) == part));
  CHECK(st->held_chunk_bytes() == 0);

  // The chunks are in the memtable, whose reads are copies: the second read of a held chunk is
  // the same bytes in memory, not another copy out of RocksDB.
  auto first = st->read_chunk(key, 1, 0);
  auto again = st->read_chunk(key, 1, 0);
  REQUIRE(first);
  REQUIRE(again);
  CHECK(again->bytes().data() == first->bytes().data());
  auto copy = st->read_chunk(key, 1, 0, false);
  REQUIRE(copy);
  CHECK(copy->bytes().data() != first->bytes().data());

  for (std::uint32_t i = 0; i < 6; ++i) CHECK((st->read_chunk(key, 1, i) == part));
  CHECK(st->held_chunk_bytes() == 4 * part.size());  // the bound, not all six

  REQUIRE(st->remove(key).ok());
  CHECK(st->held_chunk_bytes() == 0);
  // Its bytes stay valid for a reader that still has them.
  CHECK((first->bytes() == part));
}

TEST_CASE("other formats and recordings are other objects") {
  temp_dir dir("recgate-store-");
  auto st = open_at(dir);
  object_key mp3 = key;
  mp3.format = "mp3";
  REQUIRE(st->commit(key, make_manifest(1, 1), "w").ok());
  CHECK_FALSE(st->find(mp3));
  REQUIRE(st->commit(mp3, make_manifest(1, 2), "m").ok());
  CHECK(st->read_chunk(key, 1, 0) == std::string("w"));
  CHECK(st->read_chunk(mp3, 2, 0) == std::string("m"));
}

TEST_CASE("a store that cannot be opened says why") {
  store_options options;
  options.path = "/proc/recgate-cannot-be-here";
  auto st = store::open(options);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().find("/proc/recgate-cannot-be-here") != std::string::npos);
}

TEST_CASE("expiry: compaction drops objects older than max_age, chunks by key alone") {
  temp_dir dir("recgate-store-");
  std::int64_t now = 1'800'000'000;
  store_options options;
  options.max_age_seconds = 3600;
  options.now_unix = [&now] { return now; };
  auto st = open_at(dir, options);
  object_key young = key, old = key;
  young.format = "mp3";
  // Generations are fill start times in microseconds.
  std::uint64_t old_generation = std::uint64_t(now - 7200) * 1'000'000;
  std::uint64_t young_generation = std::uint64_t(now - 60) * 1'000'000;
  REQUIRE(st->put_chunk(old, old_generation, 0, "abcd").ok());
  REQUIRE(st->commit(old, make_manifest(6, old_generation), "ef").ok());
  REQUIRE(st->put_chunk(young, young_generation, 0, "abcd").ok());
  REQUIRE(st->commit(young, make_manifest(6, young_generation), "ef").ok());
  REQUIRE(st->find(old));  // remembered now: compaction must make the store forget it
  REQUIRE(st->compact().ok());
  CHECK_FALSE(st->find(old));
  CHECK_FALSE(st->read_chunk(old, old_generation, 0));
  CHECK_FALSE(st->read_chunk(old, old_generation, 1));
  REQUIRE(st->find(young));
  CHECK(st->read_chunk(young, young_generation, 0) == std::string("abcd"));
}

TEST_CASE("access times persist for the next open") {
  temp_dir dir("recgate-store-");
  {
    auto st = open_at(dir);
    REQUIRE(st->commit(key, make_manifest(2, 1), "ab").ok());
    REQUIRE(st->record_access({{key, 1234567}}).ok());
  }
  auto st = open_at(dir);
  auto entries = st->scan();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].key == key);
  CHECK(entries[0].length == 2);
  CHECK(entries[0].last_access == 1234567);
}

TEST_CASE("tombstones: kept per recording, counted once, across a reopen") {
  temp_dir dir("recgate-store-");
  {
    auto st = open_at(dir);
    CHECK_FALSE(st->tombstoned(key.account_sid, key.sid));
    CHECK(st->tombstones() == 0);
    REQUIRE(st->put_tombstone(key.account_sid, key.sid, 1000).ok());
    REQUIRE(st->put_tombstone(key.account_sid, key.sid, 2000).ok());  // again: still one
    CHECK(st->tombstoned(key.account_sid, key.sid));
    CHECK_FALSE(st->tombstoned(key.account_sid, "another-sid"));
    CHECK_FALSE(st->tombstoned("another-account", key.sid));
    CHECK(st->tombstones() == 1);
  }
  auto st = open_at(dir);
  CHECK(st->tombstoned(key.account_sid, key.sid));
  CHECK(st->tombstones() == 1);
  CHECK(st->count().objects == 0);  // not objects
}

TEST_CASE("find remembers manifests, and never one that was replaced or removed") {
  temp_dir dir("recgate-store-");
  auto st = open_at(dir);
  REQUIRE(st->begin_fill(key, 1).ok());
  REQUIRE(st->commit(key, make_manifest(2, 1), "ab").ok());
  for (int i = 0; i < 3; ++i) {  // the first find reads RocksDB, the others the memo
    auto m = st->find(key);
    REQUIRE(m);
    CHECK(m->generation == 1);
  }
  // A new generation replaces the remembered one at once.
  REQUIRE(st->begin_fill(key, 2).ok());
  REQUIRE(st->commit(key, make_manifest(3, 2), "xyz").ok());
  auto m = st->find(key);
  REQUIRE(m);
  CHECK(m->generation == 2);
  CHECK(m->length == 3);
  CHECK(st->read_chunk(key, 2, 0) == std::string("xyz"));
  // Removed: forgotten too.
  REQUIRE(st->remove(key).ok());
  CHECK_FALSE(st->find(key));
  // And after a reopen nothing but RocksDB speaks.
  REQUIRE(st->begin_fill(key, 3).ok());
  REQUIRE(st->commit(key, make_manifest(1, 3), "q").ok());
  REQUIRE(st->find(key));
  st.reset();
  st = open_at(dir);
  REQUIRE(st->find(key));
  CHECK(st->find(key)->generation == 3);
}

TEST_CASE("a find while compaction expires an object remembers nothing of it afterwards") {
  temp_dir dir("recgate-store-");
  const std::int64_t now = 1'800'000'000;
  store_options options;
  options.max_age_seconds = 3600;
  options.now_unix = [now] { return now; };
  auto st = open_at(dir, options);
  fill_object(*st, std::uint64_t(now - 7200) * 1'000'000);
  // Finds keep reading (and remembering) the manifest until compaction drops it.
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> finds{0};
  std::thread finder([&] {
    while (!done) {
      (void)st->find(key);
      ++finds;
    }
  });
  while (finds == 0) std::this_thread::yield();
  auto compacted = st->compact();
  done = true;
  finder.join();
  REQUIRE(compacted.ok());
  CHECK_FALSE(st->find(key));
  CHECK_FALSE(st->read_chunk(key, std::uint64_t(now - 7200) * 1'000'000, 0));
}

TEST_CASE("a store with keys seals chunks and manifests, and reads them back") {
  temp_dir dir("recgate-store-");
  {
    auto st = open_at(dir, with_keys({key_a}));
    fill_object(*st, 5);
    auto m = st->find(key);  // read from RocksDB: its verdict is remembered with it
    REQUIRE(m);
    CHECK(m->key_id == "a");
    CHECK(m->mac.size() == 64);
    CHECK(st->servable(key, *m).ok());
    CHECK(st->read_chunk(key, 5, 0) == std::string("abcd"));
    CHECK(st->read_chunk(key, 5, 1) == std::string("efgh"));
    CHECK(st->read_chunk(key, 5, 2) == std::string("ij"));
    REQUIRE(st->find(key) == m);  // from the memo, the same verdict
    CHECK(st->servable(key, *st->find(key)).ok());

    // The authenticator covers every field, the object and the key id: the remembered verdict
    // is for that manifest alone.
    const std::string not_authentic = "its manifest does not authenticate under key a";
    auto longer = *m;
    longer.length = 12;
    CHECK(why_not(*st, key, longer) == not_authentic);
    auto other_chunks = *m;
    other_chunks.chunk_size = 2;
    CHECK(why_not(*st, key, other_chunks) == not_authentic);
    auto older = *m;
    older.generation = 4;
    CHECK(why_not(*st, key, older) == not_authentic);
    CHECK(why_not(*st, object_key{key.account_sid, key.sid, "mp3"}, *m) == not_authentic);
    auto renamed = *m;
    renamed.key_id = "b-2024";
    CHECK(why_not(*st, key, renamed) ==
          std::string("sealed under key b-2024, which is not configured"));
    auto plain = *m;
    plain.key_id.clear();
    plain.mac.clear();
    CHECK(why_not(*st, key, plain) == std::string("stored unencrypted while encryption is on"));
    CHECK(st->servable(key, *st->find(key)).ok());
  }
  // Opened without keys, the store hands out what is stored: sealed bytes, and says the object
  // cannot be read (it would be refetched, never served).
  auto raw = open_at(dir);
  auto m = raw->find(key);
  REQUIRE(m);
  CHECK(why_not(*raw, key, *m) ==
        std::string("stored encrypted, under key a, while encryption is off"));
  for (std::uint32_t i = 0; i < 3; ++i) {
    auto c = raw->read_chunk(key, 5, i);
    REQUIRE(c);
    auto header = parse_sealed(c->bytes());
    REQUIRE(header);
    CHECK(header->key_id == "a");
    CHECK(c->bytes().find(i == 2 ? "ij" : i == 1 ? "efgh" : "abcd") == std::string_view::npos);
  }
}

TEST_CASE("rotation: objects under a key still listed are read, under a dropped key not") {
  temp_dir dir("recgate-store-");
  {
    auto st = open_at(dir, with_keys({key_a}));
    fill_object(*st, 5);
  }
  object_key mp3{key.account_sid, key.sid, "mp3"};
  {  // B current, A still listed
    auto st = open_at(dir, with_keys({key_b, key_a}));
    auto m = st->find(key);
    REQUIRE(m);
    CHECK(st->servable(key, *m).ok());
    CHECK(st->read_chunk(key, 5, 2) == std::string("ij"));
    REQUIRE(st->begin_fill(mp3, 6).ok());
    REQUIRE(st->commit(mp3, make_manifest(3, 6), "xyz").ok());
    auto fresh = st->find(mp3);
    REQUIRE(fresh);
    CHECK(fresh->key_id == "b-2024");
    CHECK(st->servable(mp3, *fresh).ok());
  }
  // B alone: A's object cannot be read any more, B's can.
  auto st = open_at(dir, with_keys({key_b}));
  for (int look = 0; look < 2; ++look) {  // from RocksDB, then from the memo
    CAPTURE(look);
    auto old = st->find(key);
    REQUIRE(old);
    CHECK(why_not(*st, key, *old) == std::string("sealed under key a, which is not configured"));
    auto fresh = st->find(mp3);
    REQUIRE(fresh);
    CHECK(st->servable(mp3, *fresh).ok());
  }
  CHECK(st->read_chunk(mp3, 6, 0) == std::string("xyz"));
}

TEST_CASE("a plaintext store's objects are plaintext manifests, readable without keys only") {
  temp_dir dir("recgate-store-");
  {
    auto plain = open_at(dir);
    fill_object(*plain, 7);
    auto m = plain->find(key);
    REQUIRE(m);
    CHECK(m->key_id.empty());
    CHECK(m->mac.empty());
    CHECK(plain->servable(key, *m).ok());
    CHECK(manifest::parse(m->serialize())->key_id.empty());
  }
  auto st = open_at(dir, with_keys({key_a}));
  auto m = st->find(key);
  REQUIRE(m);
  CHECK(why_not(*st, key, *m) == std::string("stored unencrypted while encryption is on"));
}

TEST_CASE("a chunk that does not authenticate is never returned; the damage observer hears of it") {
  temp_dir dir("recgate-store-");
  {
    auto st = open_at(dir, with_keys({key_a}));
    fill_object(*st, 5);
  }
  SUBCASE("a flipped byte") {
    auto raw = open_at(dir);
    auto c = raw->read_chunk(key, 5, 1);
    REQUIRE(c);
    std::string bad(c->bytes());
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x40);
    REQUIRE(raw->put_chunk(key, 5, 1, bad).ok());  // without keys: stored as given
  }
  SUBCASE("a chunk moved to another position") {
    auto raw = open_at(dir);
    auto c = raw->read_chunk(key, 5, 0);
    REQUIRE(c);
    REQUIRE(raw->put_chunk(key, 5, 1, c->bytes()).ok());
  }
  SUBCASE("a chunk from another object") {
    object_key other{key.account_sid, key.sid, "mp3"};
    // Sealed for (other, 5, 1) under the same key, copied into (key, 5, 1).
    auto sealed = seal_chunk(key_ring({key_a}), {other.encoded(), 5, 1}, "EFGH");
    REQUIRE(sealed);
    auto raw = open_at(dir);
    REQUIRE(raw->put_chunk(key, 5, 1, *sealed).ok());
  }
  auto st = open_at(dir, with_keys({key_a}));
  std::vector<std::string> told;
  st->on_damaged([&](const object_key& k, std::uint64_t generation, const std::string& why) {
    told.push_back(k.encoded() + " " + std::to_string(generation) + " " + why);
    st->remove(k, generation).ignore();  // as the cache does
  });
  CHECK(st->read_chunk(key, 5, 0) == std::string("abcd"));
  CHECK_FALSE(st->read_chunk(key, 5, 1));
  REQUIRE(told.size() == 1);
  CHECK(told[0].starts_with(key.encoded() + " 5 chunk 1 "));
  CHECK(told[0].find("failed authentication") != std::string::npos);
  // Gone: the next lookup misses, so the cache fetches it again; nothing committed is left to
  // be damaged.
  CHECK_FALSE(st->find(key));
  CHECK(st->remove_stale_fills({}) == 1);  // its chunks, once nobody reads them
  CHECK_FALSE(st->read_chunk(key, 5, 0));
  CHECK(told.size() == 1);
}

TEST_CASE("a missing chunk of a committed object is damage, with or without keys") {
  for (bool encrypted : {false, true}) {
    CAPTURE(encrypted);
    temp_dir dir("recgate-store-");
    std::vector<cipher_key> keys;
    if (encrypted) keys.push_back(key_a);
    auto st = open_at(dir, with_keys(keys));
    std::vector<std::uint64_t> told;
    st->on_damaged([&](const object_key&, std::uint64_t generation, const std::string& why) {
      CHECK(why.find("is missing") != std::string::npos);
      told.push_back(generation);
    });
    fill_object(*st, 5);
    // A fill's own chunks (no manifest of that generation) are not the committed object's.
    REQUIRE(st->begin_fill(key, 9).ok());
    CHECK_FALSE(st->read_chunk(key, 9, 0));
    CHECK(told.empty());
    // The committed object's chunks, removed behind its manifest's back.
    REQUIRE(st->abort_fill(key, 5).ok());
    CHECK_FALSE(st->read_chunk(key, 5, 1));
    CHECK(told == std::vector<std::uint64_t>{5});
    CHECK(st->find(key));  // the store only reports; the cache removes
  }
}

TEST_CASE("a store whose folder is deleted fails, says why, and recovers into a new folder") {
  temp_dir dir("recgate-store-");
  std::vector<store_health> told;
  std::mutex told_mutex;
  store_options options;
  options.on_health = [&](const store_health& h) {
    std::lock_guard lock(told_mutex);
    told.push_back(h);
  };
  auto st = open_at(dir, options);
  fill_object(*st, 1);
  REQUIRE(st->writable());
  CHECK(st->check_folder());

  std::filesystem::remove_all(dir.path);
  CHECK_FALSE(st->check_folder());
  CHECK_FALSE(st->writable());
  CHECK(st->health().reason.find("removed or replaced") != std::string::npos);
  // Failing is said once, however often it is found again.
  CHECK_FALSE(st->check_folder());
  {
    std::lock_guard lock(told_mutex);
    REQUIRE(told.size() == 1);
    CHECK_FALSE(told[0].writable);
  }
  auto recovered = st->recover();
  REQUIRE_MESSAGE(recovered.ok(), recovered.error());
  CHECK(*recovered == store::recovery::reopened);
  CHECK(st->writable());
  CHECK(st->reopens() == 1);
  CHECK(std::filesystem::exists(dir.path / "CURRENT"));
  CHECK_FALSE(st->find(key));  // a new, empty database
  fill_object(*st, 2);
  CHECK(st->read_chunk(key, 2, 0) == std::string("abcd"));
  std::lock_guard lock(told_mutex);
  REQUIRE(told.size() == 2);
  CHECK(told[1].writable);
}

TEST_CASE(
    "a full disk: a failed write makes the store failing; emptied when it is full of itself") {
  test_support::small_filesystem fs(24 << 20);
  if (!fs.available()) {
    WARN_MESSAGE(false, "not run: " << fs.why());
    return;
  }
  store_options options;
  options.path = (fs.path() / "db").string();
  options.block_cache_bytes = 8 << 20;
  auto opened = store::open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.error());
  auto st = std::move(*opened);
  fill_object(*st, 1);
  // Chunks until the disk refuses one (the WAL first, then a flush).
  std::string chunk(256 * 1024, 'c');
  object_key big = key;
  big.sid = "00000001-0000-4000-8000-000000000001";
  REQUIRE(st->begin_fill(big, 9).ok());
  store::result put;
  for (std::uint32_t i = 0; i < 400 && put.ok(); ++i) put = st->put_chunk(big, 9, i, chunk);
  for (int i = 0; i < 200 && st->writable(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE_FALSE(st->writable());
  CHECK(st->write_failures() >= 1);
  CHECK(st->health().reason.find("No space left") != std::string::npos);
  // Reads go on while it fails.
  CHECK(st->read_chunk(key, 1, 0) == std::string("abcd"));
  // The disk is full of the store's own chunks, which cannot be evicted from a database that
  // takes no writes: it is emptied and opened anew. (A failed flush can leave room, less than
  // it needed but more than a reopen needs: taken here by more of the cache's own bytes.)
  if (auto free = fs.free_bytes(); free > (256u << 10)) {
    std::ofstream more(fs.path() / "db" / "more-of-its-own.blob", std::ios::binary);
    std::string block(64 << 10, 'm');
    for (std::uint64_t left = free - (256 << 10); left > 0 && more;) {
      auto n = std::min<std::uint64_t>(left, block.size());
      more.write(block.data(), static_cast<std::streamsize>(n));
      left -= n;
    }
  }
  auto recovered = st->recover();
  REQUIRE_MESSAGE(recovered.ok(), recovered.error());
  CHECK(*recovered == store::recovery::wiped);
  CHECK(st->writable());
  CHECK_FALSE(st->find(key));
  fill_object(*st, 2);
  CHECK(st->find(key));
}
