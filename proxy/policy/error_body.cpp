#include "proxy/policy/error_body.hpp"

#include <nlohmann/json.hpp>

namespace recgate {

std::string error_body(int status, std::string_view message) {
  int code = status == 401 ? 20003 : 20000 + status;
  nlohmann::json body = {
      {"code", code},
      {"message", message},
      {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
      {"status", status},
  };
  // Replace invalid UTF-8 rather than throw: messages may quote what a client sent.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace recgate
