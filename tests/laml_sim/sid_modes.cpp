#include "sid_modes.hpp"

#include <array>
#include <cstdio>
#include <stdexcept>

namespace laml_sim {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string format_sid(std::uint32_t unique, const char* third, std::uint64_t last) {
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%08x-0000-%s-0000-%012llu", static_cast<unsigned>(unique),
                third, static_cast<unsigned long long>(last));
  return std::string(buf.data());
}

}  // namespace

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? text[i] != '-' : !is_hex(text[i])) return false;
  }
  return true;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

sid_mode parse_sid_mode(std::string_view sid) {
  const std::string_view third = sid.substr(14, 4);
  if (third == "0404") return {sid_kind::absent, 0};
  if (third != "0000") return {};
  std::uint64_t bytes = 0;
  for (char c : sid.substr(24, 12)) {
    // Not all digits: an ordinary Sid that happens to have a zero third group.
    if (c < '0' || c > '9') return {};
    bytes = bytes * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return {sid_kind::sized, bytes};
}

std::uint64_t sid_seed(std::string_view sid) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : sid) {
    hash ^= static_cast<unsigned char>(lower(c));
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string sized_sid(std::uint32_t unique, std::uint64_t bytes) {
  if (bytes > 999'999'999'999ULL)
    throw std::invalid_argument("laml_sim::sized_sid: at most 12 decimal digits");
  return format_sid(unique, "0000", bytes);
}

std::string absent_sid(std::uint32_t unique) { return format_sid(unique, "0404", 0); }

std::string normal_sid(std::uint32_t unique) {
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%08x-0000-4000-8000-000000000000",
                static_cast<unsigned>(unique));
  return std::string(buf.data());
}

}  // namespace laml_sim
