#pragma once
// GET /metrics on the admin listener: everything the gateway counts, in Prometheus text format.
// Include only from .cpp files that already use net.hpp.

#include <string>

#include "proxy/state/gateway.hpp"

namespace recgate {

std::string render_metrics(gateway& gw);

}  // namespace recgate
