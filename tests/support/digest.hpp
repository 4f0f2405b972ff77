#pragma once
// Hex SHA-256, as recgate's key_sha256 wants it.

#include <string>
#include <string_view>

namespace test_support {

std::string sha256_hex(std::string_view text);

}  // namespace test_support
