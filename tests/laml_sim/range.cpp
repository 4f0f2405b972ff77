#include "range.hpp"

#include <optional>

#include "sid_modes.hpp"

namespace laml_sim {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Decimal digits only; nullopt when empty, not a number or beyond 64 bits.
std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace

range_result parse_range(std::string_view header, std::uint64_t size) {
  header = trim(header);
  const auto eq = header.find('=');
  if (eq == std::string_view::npos || !iequals(trim(header.substr(0, eq)), "bytes")) return {};
  const std::string_view spec = trim(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return {};
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view first_text = trim(spec.substr(0, dash));
  const std::string_view last_text = trim(spec.substr(dash + 1));

  if (first_text.empty()) {
    const auto suffix = parse_number(last_text);
    if (!suffix) return {};
    if (*suffix == 0 || size == 0) return {range_kind::unsatisfiable};
    const std::uint64_t length = *suffix < size ? *suffix : size;
    return {range_kind::satisfiable, size - length, size - 1};
  }

  const auto first = parse_number(first_text);
  if (!first) return {};
  std::uint64_t last = UINT64_MAX;
  if (!last_text.empty()) {
    const auto parsed = parse_number(last_text);
    if (!parsed || *parsed < *first) return {};
    last = *parsed;
  }
  if (*first >= size) return {range_kind::unsatisfiable};
  return {range_kind::satisfiable, *first, last < size ? last : size - 1};
}

}  // namespace laml_sim
