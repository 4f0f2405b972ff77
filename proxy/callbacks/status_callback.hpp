#pragma once
// Recording status callbacks: what a POST to callbacks.path means. Pure (no I/O): the request's
// parts in, a verdict out; the endpoint (callback_endpoint.cpp) answers it and queues the work.
//
// Order: signature header present (403), form body (400), signature (403), RecordingSid and
// AccountSid (400), then RecordingStatus: "completed" prefetches; "absent", "failed" and "deleted"
// purge (the recording is gone upstream); anything else is only acknowledged. Nothing is believed
// before the signature has been checked.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "proxy/callbacks/callback_signature.hpp"

namespace recgate {

struct callback_input {
  std::string_view content_type;  // the Content-Type header
  std::string_view body;
  std::string_view signature;  // X-SignalWire-Signature, else X-Twilio-Signature; "" if none
  std::string_view url;        // the URL the sender signed (signed_callback_url)
};

struct callback_verdict {
  unsigned status = 403;  // 204 accepted or acknowledged, 400, 403
  std::string message;    // for the client, with 400 and 403
  // For the log and metrics: "accepted", "ignored", "no signature", "bad signature",
  // "not a form", "bad RecordingSid", "unknown AccountSid".
  std::string reason;
  bool prefetch = false;  // RecordingStatus completed: fetch the recording into the cache
  // RecordingStatus absent, failed or deleted: the recording is gone for good upstream; purge it
  // and keep a tombstone.
  bool gone = false;
  std::string account_sid;    // lower case, once verified and valid
  std::string recording_sid;  // lower case, once verified and valid
  std::string recording_status;
};

// The URL the sender signed: callbacks.public_url + target when configured, otherwise the
// listener's scheme ("https" when secure) + "://" + the Host header + target. target is the
// request target as received (path and query).
std::string signed_callback_url(const config::callbacks_config& cfg, bool secure,
                                std::string_view host, std::string_view target);

// An account the gateway serves (a project), and the key its callbacks are signed with (empty:
// callbacks.signing_key).
struct callback_account {
  std::string account_sid;  // lower case when a UUID
  std::string signing_key;
};

// Prereq: cfg.signing_key is set. served: the accounts of the projects the gateway serves; the
// signature is checked with the key of the callback's AccountSid's project, else
// callbacks.signing_key.
callback_verdict evaluate_callback(const config::callbacks_config& cfg,
                                   const std::vector<callback_account>& served,
                                   const callback_input& input);

}  // namespace recgate
