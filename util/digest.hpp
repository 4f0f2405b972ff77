#pragma once
// SHA-256 and HMACs over OpenSSL's EVP interface, in one place. Each MAC is fetched once and its
// context copied per call (HMAC() would fetch the MAC and the digest by name every time).

#include <array>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace recgate {

using sha256_digest = std::array<unsigned char, 32>;
using sha1_digest = std::array<unsigned char, 20>;

sha256_digest sha256(std::string_view data);

// SHA-256 of a body that arrives in pieces.
class sha256_stream {
 public:
  sha256_stream();
  ~sha256_stream();
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;

  void update(const char* data, std::size_t size);
  std::string final_hex();  // once, at the end

 private:
  void* ctx_;  // EVP_MD_CTX, kept out of this header
};

// HMAC-SHA256 under `key` of the parts one after another; nullopt only when OpenSSL fails.
std::optional<sha256_digest> hmac_sha256(std::string_view key,
                                         std::initializer_list<std::string_view> parts);
// HMAC-SHA1 (the callback signatures' algorithm); nullopt only when OpenSSL fails.
std::optional<sha1_digest> hmac_sha1(std::string_view key, std::string_view data);

}  // namespace recgate
