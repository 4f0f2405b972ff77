#pragma once
// Error bodies in the upstream's JSON shape:
//   {"code":20404,"message":"...","more_info":"...","status":404}
// so that SignalWire and Twilio SDKs parse the gateway's errors like the upstream's.

#include <string>
#include <string_view>

namespace recgate {

// code is the upstream's convention: 20003 for 401, otherwise 20000 + status.
std::string error_body(int status, std::string_view message);

}  // namespace recgate
