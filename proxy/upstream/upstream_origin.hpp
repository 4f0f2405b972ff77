#pragma once
// The upstream client seen as the cache's origin: one fetch, its head in cache::origin_head
// terms (failures and error statuses included), and the body to stream for a 200.
// Include only from .cpp files that already use net.hpp.

#include <string>

#include "cache/origin.hpp"
#include "proxy/policy/recording_request.hpp"
#include "proxy/upstream/upstream_client.hpp"
#include "proxy/upstream/upstream_projects.hpp"

namespace recgate {

// Error bodies are read up to this size and passed on; anything longer is cut off there.
inline constexpr std::size_t max_error_body = 64 * 1024;

// The body is set for a 200, and for a 206 when the request asked for a range.
net::awaitable<cache::origin_response> fetch_from_upstream(upstream_client& upstream,
                                                           const recording_request& request,
                                                           const std::string& request_id);

// The upstream GET for a cached object: its audio format ("mp3", else the WAV; a derived object
// such as peaks is made from the WAV).
recording_request audio_request(const cache::object_key& key);

// An origin_fetch for the cache: fetches GET of the object's audio format from the project's
// space (the fill holds the project: a reload that removes it does not cut the fill short).
cache::origin_fetch upstream_origin(std::shared_ptr<upstream_project> project,
                                    std::string request_id);

}  // namespace recgate
