#pragma once
// Which resource a request target names. Pure code, no I/O.
//
//   [/api/laml]/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}[.wav|.mp3|.json]
//   /__sim/media/{Sid}.wav|.mp3      audio behind a simulated storage redirect
//   /__sim/faults  /__sim/requests  /__sim/reset   control endpoints
//   /__sim/callbacks  /__sim/callback-sink          status callbacks: send one, receive them
//
// A query string is ignored everywhere.

#include <string>
#include <string_view>

namespace laml_sim {

enum class route_kind {
  recording,
  media,
  faults,
  requests,
  reset,
  callbacks,
  callback_sink,
  unknown
};
enum class recording_ext { none, wav, mp3, json };

struct route {
  route_kind kind = route_kind::unknown;
  std::string path;      // the target without its query string
  std::string resource;  // path without the /api/laml prefix, for error messages
  std::string account;   // recording only, as written
  std::string sid;       // recording and media, as written; may be malformed
  bool sid_valid = false;
  recording_ext ext = recording_ext::none;  // media: wav or mp3
};

route parse_route(std::string_view target);

}  // namespace laml_sim
