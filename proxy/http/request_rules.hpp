#pragma once
// The session's rules that need no socket: request ids, the Host check, the signed-grant cookie,
// the body of POST /v1/signed-urls. Pure (no Asio, no Beast), so they are unit-tested on their
// own; proxy/app/session.cpp and the endpoints apply them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/access/access.hpp"
#include "proxy/access/signing.hpp"

namespace recgate {

// A client's X-Request-Id when it is short and plain (at most 64 of [0-9A-Za-z._-]), so it can
// be traced end to end; otherwise a new random one of 16 hex digits.
std::string request_id_for(std::string_view offered);

// RFC 9112 3.2: an HTTP/1.1 request has exactly one Host field (HTTP/1.0 at most one), and a
// valid one (uri-host [":" port]). Two Hosts, or one a front end could read differently, are
// refused rather than guessed at: the gateway does not route by Host, but what sits in front of
// it may. `count`: how many Host fields; `value`: the first one's.
bool valid_host(std::size_t count, std::string_view value, bool http11);

// Set-Cookie keeping a signed URL's grant for the recording's other URLs (access.signed_cookies):
// HttpOnly, SameSite=Lax, Secure on TLS, for as long as the grant has left.
std::string grant_cookie(const access_decision& d, std::string_view sid, std::int64_t now,
                         bool secure);

// The answer to an access decision other than allow: 401 with WWW-Authenticate, 403, or 429
// with Retry-After. The decision's reason is for the access log only and is not in it.
struct denial {
  unsigned status = 401;
  std::string_view message;
  std::vector<std::pair<std::string, std::string>> headers;
};
denial denial_for(const access_decision& d);

// The JSON body of POST /v1/signed-urls ({"path", "ttl", "client", "bind_format"}), or what is
// wrong with it.
result<signing_request> read_signing_body(const std::string& text);

}  // namespace recgate
