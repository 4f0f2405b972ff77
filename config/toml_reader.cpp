#include "config/toml_reader.hpp"

#include <fstream>
#include <sstream>

namespace recgate::config::sections {

const toml::table* sub_table(const toml::table& root, std::string_view name,
                             std::vector<error>& errors) {
  auto* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) {
    errors.push_back({std::string(name), "must be a table ([" + std::string(name) + "])"});
    return nullptr;
  }
  return n->as_table();
}

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace recgate::config::sections
