#pragma once
// The revalidator's question, put to SignalWire (the recording's project): a HEAD of the
// recording in the format the cache holds (the same path a fill fetches; derived objects, such
// as peaks, ask for the WAV). 200: present; 404 or 410: gone; anything else, or no
// answer: unknown. Include from .cpp files only.

#include "proxy/lifecycle/revalidator.hpp"

namespace recgate {

class upstream_projects;
template <class T>
class shared_setting;

// The project serving the recording's AccountSid is asked (none: unknown).
// Prereq: projects outlives every probe.
existence_probe upstream_existence(const shared_setting<const upstream_projects>& projects);

}  // namespace recgate
