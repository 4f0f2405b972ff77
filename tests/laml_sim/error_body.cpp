#include "error_body.hpp"

#include <nlohmann/json.hpp>

namespace laml_sim {

std::string error_json(unsigned code, std::string_view message, unsigned status) {
  nlohmann::ordered_json j;
  j["code"] = code;
  j["message"] = message;
  j["more_info"] = "https://www.twilio.com/docs/errors/" + std::to_string(code);
  j["status"] = status;
  return j.dump();
}

std::string not_found_json(std::string_view resource) {
  return error_json(20404, "The requested resource " + std::string(resource) + " was not found",
                    404);
}

std::string unauthorized_json() { return error_json(20003, "Authenticate", 401); }

std::string method_not_allowed_json() { return error_json(20004, "Method not allowed", 405); }

std::string bad_request_json(std::string_view message) { return error_json(20400, message, 400); }

std::string forced_status_json(unsigned status, std::string_view resource) {
  if (status == 404) return not_found_json(resource);
  return error_json(20000 + status, "Simulated failure (status " + std::to_string(status) + ")",
                    status);
}

}  // namespace laml_sim
