#include "digest.hpp"

#include <openssl/evp.h>

namespace test_support {

std::string sha256_hex(std::string_view text) {
  unsigned char digest[32];
  unsigned len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 0xf];
  }
  return out;
}

}  // namespace test_support
