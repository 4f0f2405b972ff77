// Encryption at rest: the chunk cipher on its own, the store with keys (a real RocksDB in a fresh
// temporary folder), and the key file's parsing and validation.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "cache/chunk_cipher.hpp"
#include "cache/store.hpp"
#include "config/encryption_keys.hpp"
#include "config/load.hpp"

using namespace recgate::cache;

namespace {

const cipher_key key_a{"a", std::string(32, '\x11')};
const cipher_key key_b{"b-2024", std::string(32, '\x22')};
const std::string object = "720796a0-8ee9-4350-83bd-2d07a3121f1e/19e436af-5688-4307-b03b-bdb2b42b8142/wav";

std::string sample(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

// open_chunk into a fresh buffer: the plaintext, or nullopt and the status.
std::optional<std::string> open(const key_ring& ring, const chunk_identity& id,
                                std::string_view sealed, open_status* status = nullptr) {
  auto header = parse_sealed(sealed);
  std::string out(header ? header->plaintext_size : 0, '\0');
  auto s = open_chunk(ring, id, sealed, out);
  if (status) *status = s;
  if (s != open_status::ok) return std::nullopt;
  return out;
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("recgate-enc-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::unique_ptr<store> open_store(const temp_dir& dir, std::vector<cipher_key> keys) {
  std::string error;
  store_options options;
  options.path = dir.path.string();
  options.block_cache_bytes = 8 << 20;
  options.encryption_keys = std::move(keys);
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

// A three-chunk object "abcdefghij" committed as generation `generation`.
void fill_object(store& st, std::uint64_t generation) {
  REQUIRE_FALSE(st.begin_fill(key, generation));
  REQUIRE_FALSE(st.put_chunk(key, generation, 0, "abcd"));
  REQUIRE_FALSE(st.put_chunk(key, generation, 1, "efgh"));
  REQUIRE_FALSE(st.commit(key, make_manifest(10, generation), "ij"));
}

}  // namespace

TEST_CASE("a sealed chunk opens to its plaintext, and to nothing once anything about it changes") {
  key_ring ring({key_a});
  chunk_identity id{object, 1700000000123456, 3};
  auto plain = sample(256 * 1024, 1);
  auto sealed = seal_chunk(ring, id, plain);
  REQUIRE(sealed);
  auto header = parse_sealed(*sealed);
  REQUIRE(header);
  CHECK(header->key_id == "a");
  CHECK(header->plaintext_size == plain.size());
  CHECK(sealed->size() == plain.size() + 2 + 1 + chunk_nonce_bytes + chunk_tag_bytes);
  CHECK(sealed->find(plain.substr(1000, 64)) == std::string::npos);
  CHECK(open(ring, id, *sealed) == plain);

  // The same bytes sealed again: another nonce, other ciphertext.
  auto again = seal_chunk(ring, id, plain);
  REQUIRE(again);
  CHECK(*again != *sealed);
  CHECK(open(ring, id, *again) == plain);

  const std::size_t nonce_at = 3, body_at = nonce_at + chunk_nonce_bytes;
  struct flip {
    const char* what;
    std::size_t at;
  };
  for (auto f : {flip{"nonce", nonce_at + 5}, flip{"ciphertext", body_at + 77},
                 flip{"last ciphertext byte", sealed->size() - chunk_tag_bytes - 1},
                 flip{"tag", sealed->size() - 3}}) {
    CAPTURE(f.what);
    auto bad = *sealed;
    bad[f.at] = static_cast<char>(bad[f.at] ^ 0x01);
    open_status status{};
    CHECK_FALSE(open(ring, id, bad, &status));
    CHECK(status == open_status::not_authentic);
  }
  SUBCASE("truncated or extended") {
    open_status status{};
    CHECK_FALSE(open(ring, id, std::string_view(*sealed).substr(0, sealed->size() - 1), &status));
    CHECK_FALSE(open(ring, id, *sealed + "x", &status));
    CHECK_FALSE(open(ring, id, std::string_view(*sealed).substr(0, 10), &status));
    CHECK(status == open_status::malformed);
  }
  SUBCASE("moved to another object, generation or position") {
    auto other_object = object;
    other_object[10] = 'f';
    CHECK_FALSE(open(ring, {other_object, id.generation, id.index}, *sealed));
    CHECK_FALSE(open(ring, {object.substr(0, object.size() - 3) + "mp3", id.generation, id.index},
                     *sealed));
    CHECK_FALSE(open(ring, {object, id.generation + 1, id.index}, *sealed));
    CHECK_FALSE(open(ring, {object, id.generation, id.index + 1}, *sealed));
    CHECK_FALSE(open(ring, {object, id.generation, 0}, *sealed));
  }
  SUBCASE("opened with the wrong key, or a key id it does not name") {
    open_status status{};
    key_ring impostor({{"a", std::string(32, '\x12')}});
    CHECK_FALSE(open(impostor, id, *sealed, &status));
    CHECK(status == open_status::not_authentic);
    CHECK_FALSE(open(key_ring({key_b}), id, *sealed, &status));
    CHECK(status == open_status::unknown_key);
    // Renaming the key in the header to one the ring has: the id is authenticated too.
    key_ring both({{"a", key_a.secret}, {"c", key_a.secret}});
    auto renamed = *sealed;
    renamed[2] = 'c';
    CHECK_FALSE(open(both, id, renamed, &status));
    CHECK(status == open_status::not_authentic);
  }
}

TEST_CASE("rotation: a ring seals under its first key and opens under every key") {
  chunk_identity id{object, 5, 0};
  auto under_a = seal_chunk(key_ring({key_a}), id, "old audio");
  REQUIRE(under_a);
  key_ring rotated({key_b, key_a});
  auto under_b = seal_chunk(rotated, id, "new audio");
  REQUIRE(under_b);
  CHECK(parse_sealed(*under_b)->key_id == "b-2024");
  CHECK(open(rotated, id, *under_a) == std::string("old audio"));
  CHECK(open(rotated, id, *under_b) == std::string("new audio"));
  CHECK_FALSE(open(key_ring({key_b}), id, *under_a));
}

TEST_CASE("manifest tags: only the same fields under the same key check") {
  key_ring ring({key_a, key_b});
  auto tag = manifest_tag(ring, "a", "fields");
  REQUIRE(tag);
  CHECK(tag->size() == 64);
  CHECK(check_manifest_tag(ring, "a", "fields", *tag));
  CHECK_FALSE(check_manifest_tag(ring, "a", "fieldz", *tag));
  CHECK_FALSE(check_manifest_tag(ring, "b-2024", "fields", *tag));
  CHECK_FALSE(check_manifest_tag(key_ring({key_b}), "a", "fields", *tag));
  CHECK_FALSE(manifest_tag(ring, "nope", "fields"));
}

TEST_CASE("new master keys are 32 random bytes in base64") {
  auto a = new_master_key_base64();
  auto b = new_master_key_base64();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  auto parsed = recgate::config::parse_encryption_keys("k:" + *a);
  REQUIRE(parsed.error.empty());
  CHECK(parsed.keys.at(0).secret.size() == 32);
}

TEST_CASE("a store with keys seals chunks and manifests, and reads them back") {
  temp_dir dir;
  {
    auto st = open_store(dir, {key_a});
    fill_object(*st, 5);
    auto m = st->find(key);
    REQUIRE(m);
    CHECK(m->key_id == "a");
    CHECK(m->mac.size() == 64);
    CHECK(st->readable(key, *m));
    CHECK(st->read_chunk(key, 5, 0) == std::string("abcd"));
    CHECK(st->read_chunk(key, 5, 1) == std::string("efgh"));
    CHECK(st->read_chunk(key, 5, 2) == std::string("ij"));
    CHECK(st->damaged_chunks() == 0);
  }
  // Opened without keys, the store hands out what is stored: sealed bytes, and says the object
  // is not readable (it would be refetched, never served).
  auto raw = open_store(dir, {});
  auto m = raw->find(key);
  REQUIRE(m);
  CHECK_FALSE(raw->readable(key, *m));
  for (std::uint32_t i = 0; i < 3; ++i) {
    auto c = raw->read_chunk(key, 5, i);
    REQUIRE(c);
    auto header = parse_sealed(c->bytes());
    REQUIRE(header);
    CHECK(header->key_id == "a");
    CHECK(c->bytes().find(i == 2 ? "ij" : i == 1 ? "efgh" : "abcd") == std::string_view::npos);
  }
}

TEST_CASE("a chunk that does not authenticate is never returned; the damage observer hears of it") {
  temp_dir dir;
  {
    auto st = open_store(dir, {key_a});
    fill_object(*st, 5);
  }
  SUBCASE("a flipped byte") {
    auto raw = open_store(dir, {});
    auto c = raw->read_chunk(key, 5, 1);
    REQUIRE(c);
    std::string bad(c->bytes());
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x40);
    REQUIRE_FALSE(raw->put_chunk(key, 5, 1, bad));  // without keys: stored as given
  }
  SUBCASE("a chunk moved to another position") {
    auto raw = open_store(dir, {});
    auto c = raw->read_chunk(key, 5, 0);
    REQUIRE(c);
    REQUIRE_FALSE(raw->put_chunk(key, 5, 1, c->bytes()));
  }
  SUBCASE("a chunk from another object") {
    object_key other{key.account_sid, key.sid, "mp3"};
    // Sealed for (other, 5, 1) under the same key, copied into (key, 5, 1).
    auto sealed = seal_chunk(key_ring({key_a}), {other.encoded(), 5, 1}, "EFGH");
    REQUIRE(sealed);
    auto raw = open_store(dir, {});
    REQUIRE_FALSE(raw->put_chunk(key, 5, 1, *sealed));
  }
  auto st = open_store(dir, {key_a});
  std::vector<std::string> told;
  st->on_damaged([&](const object_key& k, std::uint64_t generation, const std::string& why) {
    told.push_back(k.encoded() + " " + std::to_string(generation) + " " + why);
    st->remove(k, generation);  // as the cache does
  });
  CHECK(st->read_chunk(key, 5, 0) == std::string("abcd"));
  CHECK_FALSE(st->read_chunk(key, 5, 1));
  CHECK(st->damaged_chunks() == 1);
  REQUIRE(told.size() == 1);
  CHECK(told[0].starts_with(key.encoded() + " 5 chunk 1 "));
  CHECK(told[0].find("failed authentication") != std::string::npos);
  // Gone: the next lookup misses, so the cache fetches it again; nothing committed is left to
  // be damaged.
  CHECK_FALSE(st->find(key));
  CHECK_FALSE(st->read_chunk(key, 5, 0));
  CHECK(told.size() == 1);
  CHECK(st->damaged_chunks() == 1);
}

TEST_CASE("a missing chunk of a committed object is damage, with or without keys") {
  for (bool encrypted : {false, true}) {
    CAPTURE(encrypted);
    temp_dir dir;
    std::vector<cipher_key> keys;
    if (encrypted) keys.push_back(key_a);
    auto st = open_store(dir, keys);
    std::vector<std::uint64_t> told;
    st->on_damaged([&](const object_key&, std::uint64_t generation, const std::string& why) {
      CHECK(why.find("is missing") != std::string::npos);
      told.push_back(generation);
    });
    fill_object(*st, 5);
    // A fill's own chunks (no manifest of that generation) are not the committed object's.
    REQUIRE_FALSE(st->begin_fill(key, 9));
    CHECK_FALSE(st->read_chunk(key, 9, 0));
    CHECK(told.empty());
    // The committed object's chunks, removed behind its manifest's back.
    REQUIRE_FALSE(st->abort_fill(key, 5));
    CHECK_FALSE(st->read_chunk(key, 5, 1));
    CHECK(st->damaged_chunks() == 1);
    CHECK(told == std::vector<std::uint64_t>{5});
    CHECK(st->find(key));  // the store only reports; the cache removes
  }
}

TEST_CASE("manifests: a changed field, another key or plaintext is not readable with keys") {
  temp_dir dir;
  {
    auto st = open_store(dir, {key_a});
    fill_object(*st, 5);
    auto m = st->find(key);
    REQUIRE(m);
    REQUIRE(st->readable(key, *m));
    auto longer = *m;
    longer.length = 12;
    CHECK_FALSE(st->readable(key, longer));
    auto other_chunks = *m;
    other_chunks.chunk_size = 2;
    CHECK_FALSE(st->readable(key, other_chunks));
    auto renamed = *m;
    renamed.key_id = "b-2024";
    CHECK_FALSE(st->readable(key, renamed));
    CHECK_FALSE(st->readable(object_key{key.account_sid, key.sid, "mp3"}, *m));
    auto plain = *m;
    plain.key_id.clear();
    plain.mac.clear();
    CHECK_FALSE(st->readable(key, plain));
  }
  // Rotation: B current, A still listed; then B alone.
  {
    auto st = open_store(dir, {key_b, key_a});
    auto m = st->find(key);
    REQUIRE(m);
    CHECK(st->readable(key, *m));
    CHECK(st->read_chunk(key, 5, 2) == std::string("ij"));
    object_key mp3{key.account_sid, key.sid, "mp3"};
    REQUIRE_FALSE(st->begin_fill(mp3, 6));
    REQUIRE_FALSE(st->commit(mp3, make_manifest(3, 6), "xyz"));
    auto fresh = st->find(mp3);
    REQUIRE(fresh);
    CHECK(fresh->key_id == "b-2024");
    CHECK(st->readable(mp3, *fresh));
  }
  {
    auto st = open_store(dir, {key_b});
    CHECK_FALSE(st->readable(key, *st->find(key)));
    object_key mp3{key.account_sid, key.sid, "mp3"};
    CHECK(st->readable(mp3, *st->find(mp3)));
    CHECK(st->read_chunk(mp3, 6, 0) == std::string("xyz"));
  }
  // A plaintext store's objects are plaintext manifests: readable without keys only.
  temp_dir plain_dir;
  auto plain = open_store(plain_dir, {});
  fill_object(*plain, 7);
  auto m = plain->find(key);
  REQUIRE(m);
  CHECK(m->key_id.empty());
  CHECK(m->mac.empty());
  CHECK(plain->readable(key, *m));
  CHECK(manifest::parse(m->serialize())->key_id.empty());
}

TEST_CASE("encryption key files: ID:base64 lines, validated without quoting the key") {
  using recgate::config::parse_encryption_keys;
  const std::string k1 = "ERERERERERERERERERERERERERERERERERERERERERE=";  // 32 x 0x11
  const std::string k2 = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI";   // 32 x 0x22, no padding
  auto ok = parse_encryption_keys("# current first\n2024-06:" + k2 + "\n\n 2023 : " + k1 + " \r\n");
  REQUIRE_MESSAGE(ok.error.empty(), ok.error);
  REQUIRE(ok.keys.size() == 2);
  CHECK(ok.keys[0].id == "2024-06");
  CHECK(ok.keys[0].secret == std::string(32, '\x22'));
  CHECK(ok.keys[1].id == "2023");
  CHECK(ok.keys[1].secret == std::string(32, '\x11'));
  auto env = parse_encryption_keys("b:" + k2 + ",a:" + k1);
  REQUIRE(env.error.empty());
  CHECK(env.keys.size() == 2);
  auto url_safe = parse_encryption_keys("u:-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8");
  CHECK(url_safe.error.empty());

  struct bad {
    std::string text;
    std::string words;
  };
  for (const auto& b : {bad{"", "no key"},
                        bad{"# only a comment\n", "no key"},
                        bad{k1, "line 1: expected ID:KEY"},
                        bad{"a:" + k1 + "\nb:" + k1.substr(0, 24), "line 2 (key b): the key must be 32 bytes"},
                        bad{"a:" + k1 + "x", "not valid base64"},
                        bad{"a:" + k1.substr(0, 40) + "!!!=", "not valid base64"},
                        bad{"a:" + k1 + "\na:" + k2, "appears twice"},
                        bad{"bad id:" + k1, "key id must be"},
                        bad{std::string(33, 'k') + ":" + k1, "key id must be"}}) {
    auto r = parse_encryption_keys(b.text);
    CAPTURE(b.text);
    CHECK(r.keys.empty());
    CHECK(r.error.find(b.words) != std::string::npos);
    CHECK(r.error.find(k1.substr(0, 12)) == std::string::npos);
    CHECK(r.error.find(k2.substr(0, 12)) == std::string::npos);
  }
}

TEST_CASE("cache.encryption_key_file and encryption_key_env in the configuration") {
  using namespace recgate::config;
  temp_dir dir;
  auto config = [](const std::string& cache_lines) {
    return "[upstream]\nbase_url = \"https://example.signalwire.com\"\nproject_id = \"proj\"\n"
           "[[consumers]]\nid = \"billing\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
           "key_sha256 = \"" + std::string(64, 'a') + "\"\n[cache]\n" + cache_lines;
  };
  std::map<std::string, std::string> vars{{"SIGNALWIRE_API_TOKEN", "PT-secret"}};
  auto env = [&vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  auto has_error = [](const load_result& r, std::string_view key, std::string_view words) {
    for (const auto& e : r.errors) {
      if (e.key == key && e.message.find(words) != std::string::npos) return true;
    }
    return false;
  };
  const std::string secret = "ERERERERERERERERERERERERERERERERERERERERERE=";
  auto file = (dir.path / "keys").string();
  std::ofstream(file) << "new:" << secret << "\nold:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto r = load_from_string(config("path = \"/tmp/c\"\nencryption_key_file = \"" + file + "\"\n"), "t.toml", env);
  REQUIRE(r.value);
  CHECK(r.value->cache.encrypted());
  CHECK(r.value->cache.encryption_keys.size() == 2);
  CHECK(r.value->cache.encryption_keys[0].id == "new");
  CHECK(r.value->cache.encryption_key_source == "file " + file);
  CHECK(key_file_permission_warning(file).empty());
  std::filesystem::permissions(file, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  CHECK(key_file_permission_warning(file).find("chmod 600") != std::string::npos);

  vars["RECGATE_CACHE_KEYS"] = "k:" + secret;
  r = load_from_string(config("path = \"/tmp/c\"\nencryption_key_env = \"RECGATE_CACHE_KEYS\"\n"), "t.toml", env);
  REQUIRE(r.value);
  CHECK(r.value->cache.encryption_keys.at(0).id == "k");
  CHECK(r.value->cache.encryption_key_source == "env RECGATE_CACHE_KEYS");

  CHECK_FALSE(load_from_string(config("path = \"/tmp/c\"\n"), "t.toml", env).value->cache.encrypted());

  auto errors_of = [&](const std::string& lines) {
    auto res = load_from_string(config(lines), "t.toml", env);
    CHECK_FALSE(res.value);
    for (const auto& e : res.errors) CHECK(e.to_string().find(secret.substr(0, 12)) == std::string::npos);
    return res;
  };
  CHECK(has_error(errors_of("path = \"/tmp/c\"\nencryption_key_file = \"" + file + ".missing\"\n"),
                  "cache.encryption_key_file", "cannot read"));
  std::ofstream(file) << "short:" << secret.substr(0, 20) << "\n";
  CHECK(has_error(errors_of("path = \"/tmp/c\"\nencryption_key_file = \"" + file + "\"\n"),
                  "cache.encryption_key_file", "must be 32 bytes"));
  CHECK(has_error(errors_of("path = \"/tmp/c\"\nencryption_key_env = \"UNSET_VAR\"\n"),
                  "cache.encryption_key_env", "not set"));
  CHECK(has_error(errors_of("path = \"/tmp/c\"\nencryption_key = \"" + secret + "\"\n"),
                  "cache.encryption_key", "not accepted"));
  CHECK(has_error(errors_of("encryption_key_env = \"RECGATE_CACHE_KEYS\"\n"),
                  "cache.encryption_key_env", "needs the cache"));
  CHECK(has_error(errors_of("path = \"/tmp/c\"\nencryption_key_env = \"RECGATE_CACHE_KEYS\"\n"
                            "encryption_key_file = \"" + file + "\"\n"),
                  "cache.encryption_key_env", "not both"));
}
