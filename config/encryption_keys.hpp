#pragma once
// The cache's encryption keys (cache.encryption_key_file or cache.encryption_key_env): parsing
// and the key file's permission check. Pure apart from the stat; no key material ever appears
// in an error or warning.
//
// Format: one key a line, "ID:KEY", where ID is 1 to 32 of [A-Za-z0-9._-] and KEY is 32 random
// bytes in base64 (standard or URL-safe, padding optional), e.g. from
// `recgate keygen --encryption-key ID`. Blank lines and lines starting with '#' are skipped; in
// the environment variable, keys may also be separated by commas. The first key seals new
// objects; the others are older keys, still used to read objects sealed under them (rotation).

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace recgate::config {

struct encryption_keys_result {
  std::vector<encryption_key> keys;  // set when error is empty
  std::string error;                 // the first problem, e.g. "line 2: the key must be 32 bytes"
};
encryption_keys_result parse_encryption_keys(std::string_view text);
// 1 to 32 of [A-Za-z0-9._-].
bool valid_encryption_key_id(std::string_view id);

// A warning when the key file may be read by others than its owner (group or world bits);
// empty when it may not, or when it cannot be checked.
std::string key_file_permission_warning(const std::string& path);

}  // namespace recgate::config
