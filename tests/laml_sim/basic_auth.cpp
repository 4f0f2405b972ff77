#include "basic_auth.hpp"

#include "sid_modes.hpp"

namespace laml_sim {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Time depends on the lengths only, never on the position of the first difference.
bool constant_time_equals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int value = base64_value(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

bool basic_auth_matches(std::string_view authorization, std::string_view project_id,
                        std::string_view api_token) {
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "basic"))
    return false;
  std::string_view encoded = authorization.substr(space + 1);
  while (!encoded.empty() && (encoded.front() == ' ' || encoded.back() == ' '))
    encoded = encoded.front() == ' ' ? encoded.substr(1) : encoded.substr(0, encoded.size() - 1);
  const auto decoded = base64_decode(encoded);
  if (!decoded) return false;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string user = to_lower(std::string_view(*decoded).substr(0, colon));
  const std::string_view password = std::string_view(*decoded).substr(colon + 1);
  const bool user_ok = constant_time_equals(to_lower(project_id), user);
  const bool password_ok = constant_time_equals(api_token, password);
  return user_ok && password_ok;
}

}  // namespace laml_sim
