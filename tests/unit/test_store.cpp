// The RocksDB store, on a real database in a fresh temporary folder.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "cache/store.hpp"

using namespace recgate::cache;

namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("recgate-store-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::unique_ptr<store> open_at(const temp_dir& dir, store_options options = {}) {
  std::string error;
  options.path = dir.path.string();
  options.block_cache_bytes = 8 << 20;
  auto st = store::open(options, error);
  REQUIRE_MESSAGE(st, error);
  return st;
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
  temp_dir dir;
  {
    auto st = open_at(dir);
    REQUIRE_FALSE(st->begin_fill(key, 5));
    REQUIRE_FALSE(st->put_chunk(key, 5, 0, "abcd"));
    REQUIRE_FALSE(st->put_chunk(key, 5, 1, "efgh"));
    CHECK_FALSE(st->find(key));  // chunks alone are no object
    REQUIRE_FALSE(st->commit(key, make_manifest(10, 5), "ij"));
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
  temp_dir dir;
  {
    auto st = open_at(dir);
    REQUIRE_FALSE(st->begin_fill(key, 9));
    REQUIRE_FALSE(st->put_chunk(key, 9, 0, "abcd"));
    REQUIRE_FALSE(st->put_chunk(key, 9, 1, "efgh"));
    // No commit: the process "dies" here.
  }
  auto st = open_at(dir);
  CHECK(st->interrupted_fills_removed() == 1);
  CHECK_FALSE(st->find(key));
  CHECK_FALSE(st->read_chunk(key, 9, 0));
  CHECK_FALSE(st->read_chunk(key, 9, 1));
}

TEST_CASE("abort and remove leave nothing; a new fill replaces an old object's chunks") {
  temp_dir dir;
  auto st = open_at(dir);
  REQUIRE_FALSE(st->begin_fill(key, 1));
  REQUIRE_FALSE(st->put_chunk(key, 1, 0, "abcd"));
  REQUIRE_FALSE(st->abort_fill(key, 1));
  CHECK_FALSE(st->read_chunk(key, 1, 0));

  REQUIRE_FALSE(st->begin_fill(key, 2));
  REQUIRE_FALSE(st->commit(key, make_manifest(3, 2), "xyz"));
  REQUIRE_FALSE(st->begin_fill(key, 3));
  REQUIRE_FALSE(st->commit(key, make_manifest(2, 3), "uv"));
  CHECK(st->find(key)->generation == 3);
  CHECK_FALSE(st->read_chunk(key, 2, 0));  // the old generation went with the commit
  CHECK(st->read_chunk(key, 3, 0) == std::string("uv"));

  REQUIRE_FALSE(st->remove(key));
  CHECK_FALSE(st->find(key));
  CHECK_FALSE(st->read_chunk(key, 3, 0));
  CHECK_FALSE(st->remove(key));  // absent is fine
  CHECK(st->count().objects == 0);
}

TEST_CASE("other formats and recordings are other objects") {
  temp_dir dir;
  auto st = open_at(dir);
  object_key mp3 = key;
  mp3.format = "mp3";
  REQUIRE_FALSE(st->commit(key, make_manifest(1, 1), "w"));
  CHECK_FALSE(st->find(mp3));
  REQUIRE_FALSE(st->commit(mp3, make_manifest(1, 2), "m"));
  CHECK(st->read_chunk(key, 1, 0) == std::string("w"));
  CHECK(st->read_chunk(mp3, 2, 0) == std::string("m"));
}

TEST_CASE("a store that cannot be opened says why") {
  std::string error;
  store_options options;
  options.path = "/proc/recgate-cannot-be-here";
  auto st = store::open(options, error);
  CHECK_FALSE(st);
  CHECK(error.find("/proc/recgate-cannot-be-here") != std::string::npos);
}

TEST_CASE("expiry: compaction drops objects older than max_age, chunks by key alone") {
  temp_dir dir;
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
  REQUIRE_FALSE(st->put_chunk(old, old_generation, 0, "abcd"));
  REQUIRE_FALSE(st->commit(old, make_manifest(6, old_generation), "ef"));
  REQUIRE_FALSE(st->put_chunk(young, young_generation, 0, "abcd"));
  REQUIRE_FALSE(st->commit(young, make_manifest(6, young_generation), "ef"));
  REQUIRE_FALSE(st->compact());
  CHECK_FALSE(st->find(old));
  CHECK_FALSE(st->read_chunk(old, old_generation, 0));
  CHECK_FALSE(st->read_chunk(old, old_generation, 1));
  REQUIRE(st->find(young));
  CHECK(st->read_chunk(young, young_generation, 0) == std::string("abcd"));
}

TEST_CASE("access times persist for the next open") {
  temp_dir dir;
  {
    auto st = open_at(dir);
    REQUIRE_FALSE(st->commit(key, make_manifest(2, 1), "ab"));
    REQUIRE_FALSE(st->record_access({{key, 1234567}}));
  }
  auto st = open_at(dir);
  auto entries = st->scan();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].key == key);
  CHECK(entries[0].length == 2);
  CHECK(entries[0].last_access == 1234567);
}

TEST_CASE("find remembers manifests, and never one that was replaced or removed") {
  temp_dir dir;
  auto st = open_at(dir);
  REQUIRE_FALSE(st->begin_fill(key, 1));
  REQUIRE_FALSE(st->commit(key, make_manifest(2, 1), "ab"));
  for (int i = 0; i < 3; ++i) {  // the first find reads RocksDB, the others the memo
    auto m = st->find(key);
    REQUIRE(m);
    CHECK(m->generation == 1);
  }
  // A new generation replaces the remembered one at once.
  REQUIRE_FALSE(st->begin_fill(key, 2));
  REQUIRE_FALSE(st->commit(key, make_manifest(3, 2), "xyz"));
  auto m = st->find(key);
  REQUIRE(m);
  CHECK(m->generation == 2);
  CHECK(m->length == 3);
  CHECK(st->read_chunk(key, 2, 0) == std::string("xyz"));
  // Removed: forgotten too.
  REQUIRE_FALSE(st->remove(key));
  CHECK_FALSE(st->find(key));
  // And after a reopen nothing but RocksDB speaks.
  REQUIRE_FALSE(st->begin_fill(key, 3));
  REQUIRE_FALSE(st->commit(key, make_manifest(1, 3), "q"));
  REQUIRE(st->find(key));
  st.reset();
  st = open_at(dir);
  REQUIRE(st->find(key));
  CHECK(st->find(key)->generation == 3);
}
