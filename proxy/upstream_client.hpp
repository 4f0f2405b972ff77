#pragma once
// The only code that talks to SignalWire. It builds each upstream request from a validated
// recording_request (never from what a client sent), adds the project's Basic credentials to
// metadata requests only, verifies TLS chains and host names, and follows audio redirects
// without credentials. Include only from .cpp files that already use net.hpp.

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"
#include "cache/body_source.hpp"
#include "proxy/net.hpp"
#include "proxy/recording_request.hpp"

namespace recgate {

// Why an upstream exchange failed before its response head arrived.
struct upstream_failure {
  enum class kind { unreachable, timeout, bad_response };
  kind what;
  std::string detail;  // for logs; contains no credentials
};

// An upstream response whose head has been read; the body is read through body_source.
class upstream_exchange : public body_source {
 public:
  virtual unsigned status() const = 0;
  virtual const http::fields& headers() const = 0;
};

using upstream_result = std::variant<std::unique_ptr<upstream_exchange>, upstream_failure>;

class upstream_client {
 public:
  // Prereq: cfg outlives the client. Loads the trust store (system or cfg.ca_file); throws
  // std::runtime_error when it cannot, which is fatal at start-up.
  explicit upstream_client(const config::upstream_config& cfg);
  ~upstream_client();

  // Sends GET (or HEAD) for the recording and reads the response head. Runs on the caller's
  // executor. request_id is forwarded as X-Request-Id.
  net::awaitable<upstream_result> fetch(const recording_request& request,
                                        std::string request_id);

 private:
  const config::upstream_config& cfg_;
  std::string basic_credentials_;  // "Basic base64(project_id:api_token)"; never logged
  std::unique_ptr<ssl::context> tls_;
};

}  // namespace recgate
