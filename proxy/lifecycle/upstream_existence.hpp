#pragma once
// The revalidator's question, put to SignalWire: a HEAD of the recording in the format the cache
// holds (the same path a fill fetches). 200: present; 404 or 410: gone; anything else, or no
// answer: unknown. Include from .cpp files only.

#include "proxy/lifecycle/revalidator.hpp"

namespace recgate {

class upstream_client;

// Prereq: upstream outlives every probe.
existence_probe upstream_existence(upstream_client& upstream);

}  // namespace recgate
