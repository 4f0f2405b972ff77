#pragma once
// What an endpoint tells the connection loop about the request it answered: for the access log,
// the metrics and the audit trail, and whether the connection may take another request.

#include <cstdint>
#include <string>

namespace recgate {

struct endpoint_outcome {
  unsigned status = 0;           // as sent
  std::uint64_t bytes = 0;       // body bytes written
  unsigned upstream_status = 0;  // 0: no upstream request
  bool keep_alive = false;       // false: close the connection (or the body was cut short)
  std::string cache = "-";       // HIT, MISS, STREAM, BYPASS; "-" when the cache was not involved
  std::string consumer = "-";    // who asked, once a key or grant matched
  std::string key_id;            // which of the consumer's keys
  std::string decision = "-";    // the access decision's reason, or the endpoint's verdict
  std::string project = "-";     // the SignalWire project that served it (its id), if any
};

}  // namespace recgate
