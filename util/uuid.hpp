#pragma once
// UUID validation for AccountSids and recording Sids.

#include <optional>
#include <string>
#include <string_view>

namespace recgate {

// Accepts exactly 8-4-4-4-12 hexadecimal digits, either case; returns them in lower case.
std::optional<std::string> normalize_uuid(std::string_view text);

}  // namespace recgate
