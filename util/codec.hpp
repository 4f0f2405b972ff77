#pragma once
// Text codecs and small string helpers that every room uses: hex, base64 (standard and
// URL-safe), percent escapes, ASCII case-insensitive comparison, trimming. Pure: no I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace recgate {

// Lower-case hex of `size` bytes.
std::string to_hex(const unsigned char* data, std::size_t size);
// The value of one hex digit (either case), or -1.
int hex_value(char c);

// Standard base64 with padding (RFC 4648 section 4).
std::string base64(const unsigned char* data, std::size_t size);
// URL-safe base64 without padding (RFC 4648 section 5), for keys and signatures.
std::string base64url(const unsigned char* data, std::size_t size);
// Standard or URL-safe base64, with or without padding; nullopt for anything else, including
// leftover bits that are not zero (so no two texts decode alike).
std::optional<std::string> base64_decode(std::string_view text);

// Every byte but RFC 3986's unreserved characters as %XX (upper-case hex).
std::string percent_encode(std::string_view text);
// %XX escapes decoded (and '+' as a space when plus_as_space, as in form bodies); nullopt for a
// malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space = false);

// ASCII case-insensitive equality (HTTP tokens; no locale).
bool iequals(std::string_view a, std::string_view b);
// `s` without leading and trailing spaces, tabs, CR and LF.
std::string_view trim(std::string_view s);

}  // namespace recgate
