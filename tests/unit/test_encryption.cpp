// Encryption at rest: the chunk cipher on its own, and the key file's parsing and validation.
// The store with keys is tested with the store (test_store.cpp).
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <doctest/doctest.h>

#include "cache/chunk_cipher.hpp"
#include "config/encryption_keys.hpp"
#include "config/load.hpp"
#include "proxy/access/access.hpp"
#include "tests/support/temp_dir.hpp"
#include "util/codec.hpp"

using namespace recgate::cache;

namespace {

const cipher_key key_a{"a", std::string(32, '\x11')};
const cipher_key key_b{"b-2024", std::string(32, '\x22')};
const std::string object =
    "720796a0-8ee9-4350-83bd-2d07a3121f1e/19e436af-5688-4307-b03b-bdb2b42b8142/wav";

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

TEST_CASE("known answers: what earlier builds sealed and authenticated still opens and checks") {
  // Made by the build before the HMAC moved to EVP_MAC, and checked with Python's hmac and
  // cryptography's AESGCM: key derivation and sealing must never change under stored objects.
  auto hex_bytes = [](std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
      out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    }
    return out;
  };
  const auto sealed = hex_bytes(
      "01016145bc69497f4278babade3d7f47a609fe15544617346ffc1540d1a7f9453842916a2aba3ed67c12a85d"
      "0513704329f7647e6e468d4e74");
  chunk_identity id{object, 1700000000123456, 3};
  CHECK(open(key_ring({key_a}), id, sealed) == std::string("sealed by an earlier build"));
  CHECK_FALSE(open(key_ring({key_a}), {object, id.generation, 2}, sealed));
  // HMAC-SHA256(32 x 0x11, "recgate manifest v1\0fields")
  CHECK(manifest_tag(key_ring({key_a}), "a", "fields") ==
        std::string("a39ed4fceeb84278cca6580da1a45b41c6ea30f33252b496c8301d76e8c8be6c"));
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

  // What `recgate keygen --encryption-key` prints (recgate::base64 of 32 random bytes) and its
  // URL-safe, unpadded form read back to the same bytes.
  for (unsigned char fill : {0x00, 0xfb, 0xff}) {  // 0xfb and 0xff give + / and - _
    CAPTURE(int(fill));
    std::string secret(32, static_cast<char>(fill));
    const auto* raw = reinterpret_cast<const unsigned char*>(secret.data());
    for (const auto& text : {recgate::base64(raw, 32), recgate::base64url(raw, 32)}) {
      CAPTURE(text);
      auto printed = parse_encryption_keys("k:" + text);
      REQUIRE_MESSAGE(printed.error.empty(), printed.error);
      CHECK(printed.keys.at(0).secret == secret);
    }
  }

  struct bad {
    std::string text;
    std::string words;
  };
  for (const auto& b :
       {bad{"", "no key"}, bad{"# only a comment\n", "no key"}, bad{k1, "line 1: expected ID:KEY"},
        bad{"a:" + k1 + "\nb:" + k1.substr(0, 24), "line 2 (key b): the key must be 32 bytes"},
        bad{"a:" + k1 + "x", "not valid base64"},
        bad{"a:" + k1.substr(0, 40) + "!!!=", "not valid base64"},
        bad{"a:" + k1 + "\na:" + k2, "appears twice"}, bad{"bad id:" + k1, "key id must be"},
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
  test_support::temp_dir dir("recgate-enc-");
  auto config = [](const std::string& cache_lines) {
    return "[upstream]\nbase_url = \"https://example.signalwire.com\"\nproject_id = \"proj\"\n"
           "[[consumers]]\nid = \"billing\"\nscopes = [\"audio\"]\naccounts = [\"*\"]\n"
           "key_sha256 = \"" +
           std::string(64, 'a') + "\"\n[cache]\n" + cache_lines;
  };
  std::map<std::string, std::string> vars{{"SIGNALWIRE_API_TOKEN", "PT-secret"}};
  auto env = [&vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  auto has_error = [](const load_result& r, std::string_view key, std::string_view words) {
    if (r.ok()) return false;
    for (const auto& e : r.error()) {
      if (e.key == key && e.message.find(words) != std::string::npos) return true;
    }
    return false;
  };
  const std::string secret = "ERERERERERERERERERERERERERERERERERERERERERE=";
  auto file = (dir.path / "keys").string();
  std::ofstream(file) << "new:" << secret << "\nold:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\n";
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto r = load_from_string(config("path = \"/tmp/c\"\nencryption_key_file = \"" + file + "\"\n"),
                            "t.toml", env);
  REQUIRE(r.ok());
  CHECK(r->cache.encrypted());
  CHECK(r->cache.encryption_keys.size() == 2);
  CHECK(r->cache.encryption_keys[0].id == "new");
  CHECK(r->cache.encryption_key_source == "file " + file);
  CHECK(key_file_permission_warning(file).empty());
  std::filesystem::permissions(file, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  CHECK(key_file_permission_warning(file).find("chmod 600") != std::string::npos);

  vars["RECGATE_CACHE_KEYS"] = "k:" + secret;
  r = load_from_string(config("path = \"/tmp/c\"\nencryption_key_env = \"RECGATE_CACHE_KEYS\"\n"),
                       "t.toml", env);
  REQUIRE(r.ok());
  CHECK(r->cache.encryption_keys.at(0).id == "k");
  CHECK(r->cache.encryption_key_source == "env RECGATE_CACHE_KEYS");

  CHECK_FALSE(load_from_string(config("path = \"/tmp/c\"\n"), "t.toml", env)->cache.encrypted());

  auto errors_of = [&](const std::string& lines) {
    auto res = load_from_string(config(lines), "t.toml", env);
    CHECK_FALSE(res.ok());
    for (const auto& e : res.error())
      CHECK(e.to_string().find(secret.substr(0, 12)) == std::string::npos);
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
                            "encryption_key_file = \"" +
                            file + "\"\n"),
                  "cache.encryption_key_env", "not both"));
}
