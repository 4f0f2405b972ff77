#include "config/encryption_keys.hpp"

#include <filesystem>
#include <optional>
#include <set>

#include "util/codec.hpp"

namespace recgate::config {
namespace {

constexpr std::size_t key_bytes = 32;
constexpr std::size_t max_id = 32;

}  // namespace

bool valid_encryption_key_id(std::string_view id) {
  if (id.empty() || id.size() > max_id) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

encryption_keys_result parse_encryption_keys(std::string_view text) {
  encryption_keys_result result;
  std::set<std::string> ids;
  auto fail = [&](std::string message) {
    result.keys.clear();
    result.error = std::move(message);
    return result;
  };
  for (std::size_t line_no = 1;; ++line_no) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    // Commas separate keys too (an environment variable holding several).
    for (std::size_t in_line = 1;; ++in_line) {
      auto comma = line.find(',');
      auto entry = trim(line.substr(0, comma));
      std::string where = "line " + std::to_string(line_no);
      if (in_line > 1 || comma != std::string_view::npos)
        where += ", key " + std::to_string(in_line);
      line = comma == std::string_view::npos ? std::string_view{} : line.substr(comma + 1);
      if (!entry.empty() && entry.front() != '#') {
        auto colon = entry.find(':');
        if (colon == std::string_view::npos) {
          return fail(where + ": expected ID:KEY (a key id, a colon, 32 bytes in base64)");
        }
        std::string id(trim(entry.substr(0, colon)));
        if (!valid_encryption_key_id(id))
          return fail(where + ": the key id must be 1 to 32 of A-Z a-z 0-9 . _ -");
        auto key = base64_decode(trim(entry.substr(colon + 1)));
        if (!key) return fail(where + " (key " + id + "): the key is not valid base64");
        if (key->size() != key_bytes) {
          return fail(where + " (key " + id + "): the key must be 32 bytes (256 bits), not " +
                      std::to_string(key->size()));
        }
        if (!ids.insert(id).second) return fail(where + ": the key id " + id + " appears twice");
        result.keys.push_back({id, std::move(*key)});
      }
      if (comma == std::string_view::npos) break;
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  if (result.keys.empty()) result.error = "holds no key (one ID:KEY a line)";
  return result;
}

std::string key_file_permission_warning(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto perms = fs::status(path, ec).permissions();
  if (ec) return {};
  if ((perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none) return {};
  return "the encryption key file " + path +
         " may be read by other users than its owner; chmod 600 it";
}

}  // namespace recgate::config
