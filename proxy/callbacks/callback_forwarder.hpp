#pragma once
// Forwards a verified status callback to callbacks.forward_url: the same form body, POSTed on a
// connection of its own, within callbacks.forward_timeout. No retries. Include from .cpp files
// only (brings in Asio's core, not Beast).

#include <string>

#include "config/config.hpp"
#include "util/net/async.hpp"

namespace recgate {

struct forward_result {
  unsigned status = 0;  // the receiver's status; 0 when there was no answer
  std::string error;    // with status 0: why (resolve, connect, timeout, ...)
};

// Sends POST forward_target with Content-Type application/x-www-form-urlencoded, the body,
// X-Request-Id and X-Recgate-Prefetch (the prefetch's outcome: done, failed or none).
// Runs on the caller's executor; never throws for network errors.
net::awaitable<forward_result> forward_callback(const config::callbacks_config& cfg,
                                                const std::string& body,
                                                const std::string& request_id,
                                                const std::string& prefetch_outcome);

}  // namespace recgate
