#pragma once
// Twilio-compatible JSON error bodies:
// {"code":N,"message":"...","more_info":"https://www.twilio.com/docs/errors/N","status":S}.
// Pure code, no I/O.

#include <string>
#include <string_view>

namespace laml_sim {

std::string error_json(unsigned code, std::string_view message, unsigned status);

// 404, code 20404: "The requested resource {resource} was not found".
std::string not_found_json(std::string_view resource);
// 401, code 20003, message "Authenticate".
std::string unauthorized_json();
// 405, code 20004, message "Method not allowed".
std::string method_not_allowed_json();
// 400, code 20400, the given message.
std::string bad_request_json(std::string_view message);
// A status forced by a fault rule: code 20000 + status (404 keeps its usual message).
std::string forced_status_json(unsigned status, std::string_view resource);

}  // namespace laml_sim
