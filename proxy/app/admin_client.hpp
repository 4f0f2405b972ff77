#pragma once
// The CLI's side of the admin listener: one request, the whole answer. No Asio in this header.

#include <chrono>
#include <string>

#include "config/config.hpp"

namespace recgate {

struct admin_reply {
  unsigned status = 0;  // 0: no answer (see error)
  std::string body;
  std::string error;
};

// key: sent as a Bearer credential when not empty (admin.require_key).
admin_reply admin_request(const config::endpoint& at, const std::string& method,
                          const std::string& target, const std::string& key,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace recgate
