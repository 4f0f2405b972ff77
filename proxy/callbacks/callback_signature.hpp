#pragma once
// The signature SignalWire and Twilio put on their webhooks (X-SignalWire-Signature,
// X-Twilio-Signature), and the form bodies they sign. Pure, no I/O.
//
// Algorithm (Twilio's documented one, which SignalWire's compatibility API follows):
//   base64( HMAC-SHA1( key, full URL + name1 + value1 + name2 + value2 + ... ) )
// where the URL is exactly the one the sender POSTed to (scheme, host, port as configured,
// path and query string) and the POST parameters are sorted by name (byte order; equal names
// by value), with their decoded values.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace recgate {

using form_params = std::vector<std::pair<std::string, std::string>>;

// Decodes an application/x-www-form-urlencoded body: '&'-separated name=value pairs, '+' as a
// space, %XX escapes. Empty pairs are skipped; a pair without '=' has an empty value. nullopt for
// a malformed escape. Order and duplicates are kept.
std::optional<form_params> parse_form(std::string_view body);

// The value of the first parameter called `name`, or nullopt.
std::optional<std::string_view> form_value(const form_params& params, std::string_view name);

// The base64 signature of url and params under key.
std::string callback_signature(std::string_view key, std::string_view url, form_params params);

// True when `offered` is the signature of url and params under key. Constant time in the
// signature's bytes (CRYPTO_memcmp); an empty `offered` never matches.
bool callback_signature_valid(std::string_view key, std::string_view url, const form_params& params,
                              std::string_view offered);

}  // namespace recgate
