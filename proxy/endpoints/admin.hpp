#pragma once
// The admin listener's sessions: health, readiness, metrics, cache statistics, purge and
// revocations, for operators, probes and the CLI. Bound to loopback by default; with
// admin.require_key every request but admin.exempt_paths needs a consumer key with the admin
// scope (live_settings, so a reload changes it). Include only from .cpp files that use net.hpp.
//
//   GET    /healthz                                 200 {"status":"ok"}
//   GET    /cache/stats                             200 {"enabled":..,"objects":..,"bytes":..,...}
//   DELETE /cache/recordings/{AccountSid}/{Sid}     200 {"purged":N}  (every format)
//   POST   /signed-urls/revoke/{AccountSid}/{Sid}   200 {"revoked_before":UNIX,"persisted":..}

#include <memory>

#include "proxy/state/gateway.hpp"

namespace recgate {

net::awaitable<void> run_admin_session(tcp::socket socket, std::shared_ptr<gateway> gw);

}  // namespace recgate
