#include "proxy/callbacks/callback_signature.hpp"

#include <algorithm>

#include <openssl/crypto.h>

#include "util/codec.hpp"
#include "util/digest.hpp"

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
  auto mac = hmac_sha1(key, data);
  if (!mac) return {};  // OpenSSL failing: nothing matches an empty signature (checked below)
  return base64(mac->data(), mac->size());
}

bool callback_signature_valid(std::string_view key, std::string_view url, const form_params& params,
                              std::string_view offered) {
  auto expected = callback_signature(key, url, params);
  // The length of a SHA-1 signature is public (28 characters): only the bytes need constant time.
  if (offered.empty() || offered.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), offered.data(), expected.size()) == 0;
}

}  // namespace recgate
