// util/: the codecs and digests every room shares, against published test vectors; result.
#include <memory>
#include <string>
#include <type_traits>

#include <doctest/doctest.h>

#include "util/clock.hpp"
#include "util/codec.hpp"
#include "util/digest.hpp"
#include "util/result.hpp"

using namespace recgate;

namespace {

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

template <class A>
std::string hex_of(const A& a) {
  return to_hex(a.data(), a.size());
}

}  // namespace

TEST_CASE("hex") {
  CHECK(to_hex(bytes("\x00\x7f\xff"), 3) == "007fff");
  CHECK(hex_value('a') == 10);
  CHECK(hex_value('F') == 15);
  CHECK(hex_value('g') == -1);
}

TEST_CASE("base64: RFC 4648 vectors, URL-safe form, strict decoding") {
  CHECK(base64(bytes("foobar"), 6) == "Zm9vYmFy");
  CHECK(base64(bytes("fo"), 2) == "Zm8=");
  CHECK(base64(bytes("f"), 1) == "Zg==");
  CHECK(base64url(bytes("\xfb\xff"), 2) == "-_8");
  CHECK(base64_decode("Zm9vYmFy") == std::string("foobar"));
  CHECK(base64_decode("Zg==") == std::string("f"));
  CHECK(base64_decode("Zg") == std::string("f"));
  CHECK(base64_decode("-_8") == std::string("\xfb\xff"));
  CHECK_FALSE(base64_decode("Zh==").has_value());  // leftover bits set: not canonical
  CHECK_FALSE(base64_decode("Z").has_value());
  CHECK_FALSE(base64_decode("Zm9v!").has_value());
}

TEST_CASE("percent escapes") {
  CHECK(percent_encode("a b/c~") == "a%20b%2Fc~");
  CHECK(percent_decode("a%20b%2fc") == std::string("a b/c"));
  CHECK(percent_decode("a+b", true) == std::string("a b"));
  CHECK(percent_decode("a+b") == std::string("a+b"));
  CHECK_FALSE(percent_decode("%2").has_value());
  CHECK_FALSE(percent_decode("%zz").has_value());
}

TEST_CASE("iequals and trim") {
  CHECK(iequals("Bearer", "bEARER"));
  CHECK_FALSE(iequals("Bearer", "Bearer "));
  CHECK(trim(" \t x y \r\n") == "x y");
  CHECK(trim("  ").empty());
}

TEST_CASE("SHA-256 and HMACs: FIPS 180-2, RFC 4231 and RFC 2202 vectors") {
  CHECK(hex_of(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  sha256_stream stream;
  stream.update("a", 1);
  stream.update("bc", 2);
  CHECK(stream.final_hex() == hex_of(sha256("abc")));

  auto mac = hmac_sha256("Jefe", {"what do ya want ", "for nothing?"});  // RFC 4231 case 2
  REQUIRE(mac.has_value());
  CHECK(hex_of(*mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  auto sha1 = hmac_sha1("Jefe", "what do ya want for nothing?");  // RFC 2202 case 2
  REQUIRE(sha1.has_value());
  CHECK(hex_of(*sha1) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST_CASE("unix_now is the wall clock in seconds") {
  CHECK(unix_now() > 1'700'000'000);  // after November 2023
}

namespace {

recgate::result<int> half(int n) {
  if (n % 2 != 0) return recgate::fail("odd: " + std::to_string(n));
  return n / 2;
}

recgate::result<void> even(int n) {
  if (n % 2 != 0) return recgate::fail("odd");
  return {};
}

struct refusal {
  int status;
};

}  // namespace

TEST_CASE("result: a value or an error, never both, and ok() says which") {
  auto good = half(8);
  REQUIRE(good.ok());
  CHECK(*good == 4);
  CHECK(good.value() == 4);
  auto bad = half(7);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == "odd: 7");

  CHECK(even(2).ok());
  REQUIRE_FALSE(even(3).ok());
  CHECK(even(3).error() == "odd");

  // A structured error, and a value type that is the same as the error type.
  recgate::result<std::string, refusal> refused = recgate::fail(refusal{404});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().status == 404);
  recgate::result<std::string> same = std::string("value");
  REQUIRE(same.ok());
  CHECK(same->size() == 5);
  recgate::result<std::string> same_failed = recgate::fail("error");
  REQUIRE_FALSE(same_failed.ok());
  CHECK(same_failed.error() == "error");

  // Moves out a value that cannot be copied.
  recgate::result<std::unique_ptr<int>> owned = std::make_unique<int>(3);
  auto taken = std::move(*owned);
  CHECK(*taken == 3);
  // No conversion to bool: `if (r)` must not compile, whichever way round it would be read.
  static_assert(!std::is_convertible_v<recgate::result<void>, bool>);
  static_assert(!std::is_constructible_v<bool, recgate::result<int>>);
}
