#include "proxy/access.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace recgate {

sha256_digest sha256(std::string_view data) {
  sha256_digest out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xf];
  }
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? char(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? char(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

}  // namespace

consumer_keys::consumer_keys(const std::vector<config::consumer_config>& consumers) {
  for (const auto& c : consumers) {
    entry e{c.id, {}};
    for (std::size_t i = 0; i < e.digest.size() && 2 * i + 1 < c.key_sha256.size(); ++i) {
      e.digest[i] = static_cast<unsigned char>(hex_value(c.key_sha256[2 * i]) * 16 +
                                               hex_value(c.key_sha256[2 * i + 1]));
    }
    entries_.push_back(std::move(e));
  }
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() + 1 ||
      !iequals(authorization.substr(0, scheme.size()), scheme) ||
      authorization[scheme.size()] != ' ') {
    return std::nullopt;
  }
  auto token = authorization.substr(scheme.size() + 1);
  while (token.starts_with(' ')) token.remove_prefix(1);
  while (token.ends_with(' ')) token.remove_suffix(1);
  if (token.empty() || token.find(' ') != std::string_view::npos) return std::nullopt;
  return token;
}

std::optional<std::string> consumer_keys::authenticate(std::string_view authorization) const {
  auto token = bearer_token(authorization);
  if (!token) return std::nullopt;
  auto digest = sha256(*token);
  const entry* match = nullptr;
  // Compare with every entry, without stopping early, so timing says nothing about which matched.
  for (const auto& e : entries_) {
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) match = &e;
  }
  if (match == nullptr) return std::nullopt;
  return match->id;
}

}  // namespace recgate
