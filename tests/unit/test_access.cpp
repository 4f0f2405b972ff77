#include <doctest/doctest.h>

#include "proxy/access.hpp"

using namespace recgate;

namespace {

std::string hash_hex(std::string_view key) {
  auto d = sha256(key);
  return to_hex(d.data(), d.size());
}

}  // namespace

TEST_CASE("sha256 and hex match the standard test vector") {
  CHECK(hash_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("bearer_token parses the scheme case-insensitively") {
  CHECK(bearer_token("Bearer abc") == std::string_view("abc"));
  CHECK(bearer_token("bearer abc") == std::string_view("abc"));
  CHECK(bearer_token("BEARER   abc  ") == std::string_view("abc"));
  CHECK_FALSE(bearer_token("Bearer"));
  CHECK_FALSE(bearer_token("Bearer "));
  CHECK_FALSE(bearer_token("Bearerabc"));
  CHECK_FALSE(bearer_token("Basic YWxhZGRpbjpvcGVuc2VzYW1l"));
  CHECK_FALSE(bearer_token("Bearer a b"));
  CHECK_FALSE(bearer_token(""));
}

TEST_CASE("consumer_keys finds the consumer whose key hash matches") {
  consumer_keys keys({{"billing", hash_hex("key-one")}, {"support", hash_hex("key-two")}});
  CHECK(keys.authenticate("Bearer key-one") == std::string("billing"));
  CHECK(keys.authenticate("Bearer key-two") == std::string("support"));
  CHECK_FALSE(keys.authenticate("Bearer key-three"));
  CHECK_FALSE(keys.authenticate("Bearer key-on"));
  CHECK_FALSE(keys.authenticate("key-one"));
  CHECK_FALSE(keys.authenticate(""));
  // The hash itself is not a key.
  CHECK_FALSE(keys.authenticate("Bearer " + hash_hex("key-one")));
}
