#pragma once
// What the cache needs from wherever recordings come from (the upstream client, in the proxy):
// a function that starts fetching an object and returns its head and a body to read.
// The cache never sees HTTP; the proxy never sees chunks.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cache/body_source.hpp"
#include "cache/object.hpp"

namespace recgate::cache {

struct origin_head {
  unsigned status = 0;       // the origin's status; 0 when it gave no answer
  bool timed_out = false;    // with status 0: it did not answer in time (else: unreachable)
  bool unavailable = false;  // with status 0: not tried, the origin is known to be down
  std::optional<std::uint64_t> length;
  std::string content_type;
  std::string last_modified;
  std::string etag;           // the origin's own, passed on only when the cache is not in the way
  std::string content_range;  // for a 206 or 416: which bytes the origin says it sent or has
  std::string accept_ranges;  // passed on only when the cache is not in the way
  // For status != 200: the origin's (bounded) error body, passed on to every waiting reader.
  std::string error_body;
  std::string error_content_type;
  std::string detail;  // why it failed, for logs; never holds a credential
  // Answered by the gateway itself (a derived object's origin, e.g. waveform peaks), not by the
  // upstream: the status and error body are passed on as they are.
  bool local = false;
};

struct origin_response {
  origin_head head;
  std::unique_ptr<body_source> body;  // set only when head.status == 200
};

using origin_fetch = std::function<net::awaitable<origin_response>(const object_key&)>;

}  // namespace recgate::cache
