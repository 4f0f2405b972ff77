#pragma once
// HTTP Basic authentication against the simulated project's credentials. Pure code, no I/O.

#include <optional>
#include <string>
#include <string_view>

namespace laml_sim {

// Standard base64 (padding optional); nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view text);

// True when `authorization` is `Basic base64(user:password)` with user equal to project_id
// (case-insensitive; project ids are UUIDs) and password equal to api_token. The comparison's
// time does not depend on where the credentials differ.
bool basic_auth_matches(std::string_view authorization, std::string_view project_id,
                        std::string_view api_token);

}  // namespace laml_sim
