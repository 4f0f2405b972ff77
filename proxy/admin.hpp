#pragma once
// The admin listener's sessions: health, cache statistics and purge, for operators and the CLI.
// Bound to loopback by default; it has no authentication of its own (admin keys come with the
// access-control work). Include only from .cpp files that already use net.hpp.
//
//   GET    /healthz                                 200 {"status":"ok"}
//   GET    /cache/stats                             200 {"enabled":..,"objects":..,"bytes":..,...}
//   DELETE /cache/recordings/{AccountSid}/{Sid}     200 {"purged":N}  (every format)
//   POST   /signed-urls/revoke/{AccountSid}/{Sid}   200 {"revoked_before":UNIX,"persisted":..}

#include <memory>

#include "proxy/gateway.hpp"

namespace recgate {

net::awaitable<void> run_admin_session(tcp::socket socket, std::shared_ptr<gateway> gw);

}  // namespace recgate
