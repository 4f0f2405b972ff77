#include "util/uuid.hpp"

#include <array>

namespace recgate {

namespace {

// Each hex digit's lower-case form, 0 for any other character: one load per character.
constexpr std::array<char, 256> lower_hex = [] {
  std::array<char, 256> t{};
  for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = c;
  for (char c = 'a'; c <= 'f'; ++c) t[static_cast<unsigned char>(c)] = c;
  for (char c = 'A'; c <= 'F'; ++c)
    t[static_cast<unsigned char>(c)] = static_cast<char>(c - 'A' + 'a');
  return t;
}();

}  // namespace

std::optional<std::string> normalize_uuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::string out(36, '-');
  for (std::size_t i = 0; i < 36; ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      continue;
    }
    const char lower = lower_hex[static_cast<unsigned char>(c)];
    if (lower == 0) return std::nullopt;
    out[i] = lower;
  }
  return out;
}

}  // namespace recgate
