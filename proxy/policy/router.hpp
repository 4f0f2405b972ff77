#pragma once
// Maps a request line (method, target) to a recording_request, or to the error to answer.
// Pure: no I/O, no allocation beyond the result; safe to fuzz.
//
// Accepted: GET and HEAD on
//   /api/laml/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}[.wav|.mp3|.json]
//   /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}[.wav|.mp3|.json]   (the SDKs' form)
// and GET and HEAD on
//   /v1/recordings/{AccountSid}/{Sid}/peaks.json[?samples_per_pixel=N]   (waveform peaks)
// where N is a power of two from 64 to 65536 (default 256; anything else is 400).
// The path is matched exactly as sent and never normalised:
//   - a query string is ignored (it never reaches the upstream or any key), but for peaks'
//     samples_per_pixel;
//   - characters outside [A-Za-z0-9-._~/], '%' included, are 400: no percent-decoding, so no
//     encoded slash or dot can change what the path means;
//   - "//", dot segments, a trailing '/', other extensions ("x.wav.mp3", ".WAV") are 404;
//   - a Sid or AccountSid that is not 8-4-4-4-12 hex is 400; it is lower-cased otherwise;
//   - a target not in origin form (absolute URL, "*") or with a fragment is 400;
//   - a recording path with another method is 405 (answer with Allow: GET, HEAD).

#include <string>
#include <string_view>

#include "proxy/policy/recording_request.hpp"
#include "util/result.hpp"

namespace recgate {

struct route_error {
  int status;                                    // 400, 404 or 405
  std::string message;                           // for the JSON error body
  std::string_view allow = "GET, HEAD, DELETE";  // with 405: the Allow header
};

using route_result = result<recording_request, route_error>;

route_result route(std::string_view method, std::string_view target);

}  // namespace recgate
