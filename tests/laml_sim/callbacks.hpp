#pragma once
// Recording status callbacks as SignalWire sends them: a form-encoded POST signed with
// X-SignalWire-Signature (or X-Twilio-Signature), and a sink that records callbacks POSTed to
// laml-sim itself (what a gateway forwards). Pure code (OpenSSL's HMAC, a mutex, no I/O).
//
//   POST /__sim/callbacks      {"url", "sid", "signing_key", ...}: laml-sim POSTs the callback
//   GET|DELETE /__sim/callback-sink, POST /__sim/callback-sink: the sink

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace laml_sim {

using form_fields = std::vector<std::pair<std::string, std::string>>;

// base64(HMAC-SHA1(key, url + name1 + value1 + ...)) over the fields sorted by name (then value):
// Twilio's documented webhook signature, which SignalWire follows.
std::string webhook_signature(std::string_view key, std::string_view url, form_fields fields);

// application/x-www-form-urlencoded, unreserved bytes as they are, everything else %XX
// (spaces too).
std::string form_encode(const form_fields& fields);

// A callback to send: where, and exactly what.
struct outgoing_callback {
  std::string host;
  std::uint16_t port = 0;
  std::string target;            // path and query of the URL
  std::string body;              // the form
  std::string signature_header;  // "" when none is sent
  std::string signature;
  std::string signed_url;  // what the signature covers
};

// Parses the body of POST /__sim/callbacks:
//   {"url": "http://HOST:PORT/path?q",    where to POST (http only)
//    "sid": "<uuid>",                      RecordingSid
//    "signing_key": "...",                 the key to sign with
//    "status": "completed",                RecordingStatus (default "completed")
//    "account_sid": "...",                 AccountSid (default: the project id)
//    "params": {"Name": "value"},          more fields, or replacements, before signing
//    "tamper": {"Name": "value"},          fields changed after signing (a forged callback)
//    "signed_url": "...",                  the URL the signature covers (default: url)
//    "signature_header": "X-Twilio-Signature"   (default X-SignalWire-Signature; "" for none)
//   }
// The callback carries AccountSid, CallSid, RecordingSid, RecordingUrl (under `sim_base`),
// RecordingStatus, RecordingDuration, RecordingChannels, RecordingSource and
// RecordingStartTime, consistent with the recording's metadata. nullopt and `error` for a
// malformed request.
std::optional<outgoing_callback> parse_callback_request(std::string_view body,
                                                        std::string_view project_id,
                                                        std::uint32_t duration,
                                                        std::string_view sim_base,
                                                        std::string& error);

// The answer to POST /__sim/callbacks once the callback was sent:
// {"status": N (0: no answer), "body": "...", "error": "...", "signature": "...", "form": "..."}.
std::string callback_result_json(const outgoing_callback& sent, unsigned status,
                                 std::string_view body, std::string_view error);

// Callbacks POSTed to /__sim/callback-sink, kept in order (the last 1000). Thread-safe.
struct received_callback {
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, Authorization left out
  std::uint64_t audio_completed = 0;  // audio responses laml-sim had finished when it arrived
};

class callback_sink {
 public:
  void record(received_callback c);
  void clear();
  // {"received":[{"body":"...","headers":{"name":"value"},"audio_completed":n}, ...]}
  std::string to_json() const;

 private:
  mutable std::mutex mutex_;
  std::deque<received_callback> received_;
};

}  // namespace laml_sim
