#include "proxy/callback_signature.hpp"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proxy/access.hpp"

namespace recgate {

std::optional<form_params> parse_form(std::string_view body) {
  form_params out;
  while (!body.empty()) {
    auto amp = body.find('&');
    auto pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!name || !value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::optional<std::string_view> form_value(const form_params& params, std::string_view name) {
  for (const auto& [n, v] : params) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string callback_signature(std::string_view key, std::string_view url, form_params params) {
  std::sort(params.begin(), params.end());
  std::string data(url);
  for (const auto& [name, value] : params) data.append(name).append(value);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_length);
  return base64(mac, mac_length);
}

bool callback_signature_valid(std::string_view key, std::string_view url,
                              const form_params& params, std::string_view offered) {
  auto expected = callback_signature(key, url, params);
  // The length of a SHA-1 signature is public (28 characters): only the bytes need constant time.
  if (offered.empty() || offered.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), offered.data(), expected.size()) == 0;
}

}  // namespace recgate
