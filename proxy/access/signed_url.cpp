#include "proxy/access/signed_url.hpp"

#include <charconv>
#include <vector>

#include <openssl/crypto.h>

#include "util/codec.hpp"
#include "util/digest.hpp"

namespace recgate {
namespace {

// What the signature covers: one field a line, versioned.
std::string canonical(const signed_grant& g) {
  return "recgate-signed-url-v1\n" + g.account_sid + "\n" + g.sid + "\n" + g.format + "\n" +
         std::to_string(g.issued) + "\n" + std::to_string(g.expires) + "\n" + g.client + "\n" +
         g.consumer + "\n" + g.key_id;
}

std::string compute(const signed_grant& g, std::string_view secret) {
  auto mac = hmac_sha256(secret, {canonical(g)});
  // OpenSSL failing: a signature nothing matches (verification compares against this).
  if (!mac) return {};
  return base64url(mac->data(), mac->size());
}

}  // namespace

std::string signed_query(const signed_grant& g, std::string_view secret) {
  std::string q =
      "rg_issued=" + std::to_string(g.issued) + "&rg_expires=" + std::to_string(g.expires) +
      "&rg_consumer=" + percent_encode(g.consumer) + "&rg_key=" + percent_encode(g.key_id);
  if (!g.format.empty()) q += "&rg_format=" + g.format;
  if (!g.client.empty()) q += "&rg_client=" + percent_encode(g.client);
  return q + "&rg_sig=" + compute(g, secret);
}

bool has_signature(std::string_view query) {
  return query.starts_with("rg_") || query.find("&rg_") != std::string_view::npos;
}

std::optional<parsed_signature> parse_signed_query(std::string_view query) {
  parsed_signature out;
  bool have_expires = false, have_issued = false;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    auto name = pair.substr(0, eq);
    auto value = percent_decode(pair.substr(eq + 1));
    if (!value) return std::nullopt;
    std::string* field = nullptr;
    if (name == "rg_consumer")
      field = &out.grant.consumer;
    else if (name == "rg_key")
      field = &out.grant.key_id;
    else if (name == "rg_format")
      field = &out.grant.format;
    else if (name == "rg_client")
      field = &out.grant.client;
    else if (name == "rg_sig")
      field = &out.signature;
    else if (name == "rg_expires" || name == "rg_issued") {
      bool& seen = name == "rg_expires" ? have_expires : have_issued;
      auto& number = name == "rg_expires" ? out.grant.expires : out.grant.issued;
      auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), number);
      if (seen || ec != std::errc{} || end != value->data() + value->size()) return std::nullopt;
      seen = true;
      continue;
    } else {
      continue;  // other parameters (a player's own) are ignored
    }
    if (!field->empty()) return std::nullopt;  // a parameter twice: refuse, never pick one
    *field = std::move(*value);
  }
  if (!have_expires || !have_issued || out.grant.consumer.empty() || out.grant.key_id.empty() ||
      out.signature.empty()) {
    return std::nullopt;
  }
  if (!out.grant.format.empty() && out.grant.format != "wav" && out.grant.format != "mp3") {
    return std::nullopt;
  }
  return out;
}

bool signature_valid(const signed_grant& grant, std::string_view signature,
                     std::string_view secret) {
  auto expected = compute(grant, secret);
  return !expected.empty() && expected.size() == signature.size() &&
         CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0;
}

}  // namespace recgate
