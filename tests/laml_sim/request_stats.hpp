#pragma once
// Counts of the requests that reached the simulated upstream, served by GET /__sim/requests.
// Pure code (a mutex, no I/O).

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace laml_sim {

struct request_record {
  std::string path;    // target without query string
  std::string method;  // as sent
  bool has_range = false;
  bool has_conditions = false;  // If-None-Match, If-Modified-Since or If-Range
  bool has_authorization = false;
  bool authorization_valid = false;       // Basic credentials equal project_id:api_token
  bool authorized_json = false;           // a .json request with valid credentials
  bool media_with_authorization = false;  // a /__sim/media request carrying Authorization
  std::optional<std::string> sni;         // TLS only: the client's SNI host name, "" when none
  bool new_connection = false;            // the first counted request on its connection
  bool tls_resumed = false;               // ...whose TLS handshake resumed a session
};

// Thread-safe.
class request_stats {
 public:
  void record(const request_record& r);
  // A TLS connection whose handshake failed (the client rejected our certificate, a timeout...).
  void record_handshake_failure();
  // An audio body (200 or 206) starts or ends being sent, for the concurrency counters:
  // "audio_in_flight", "max_audio_in_flight" (the most at once since the last reset) and
  // "audio_completed" (bodies sent whole).
  void audio_started();
  void audio_finished(bool whole);
  std::uint64_t audio_completed() const;
  void reset();
  // {"total":N,"paths":{path:n},"methods":{method:n},"ranges":n,"conditionals":n,
  //  "authorized_json":n,
  //  "media_with_authorization":n,"requests_with_authorization":n,
  //  "requests_with_valid_authorization":n}
  // With `tls` (the listener speaks TLS), also "sni":{name:n} (the requests per SNI host name,
  // "" for none) and "tls_handshake_failures":n.
  std::string to_json(bool tls = false) const;

 private:
  mutable std::mutex mutex_;
  std::uint64_t total_ = 0;
  std::map<std::string, std::uint64_t> paths_;
  std::map<std::string, std::uint64_t> methods_;
  std::uint64_t ranges_ = 0;
  std::uint64_t conditionals_ = 0;
  std::uint64_t authorized_json_ = 0;
  std::uint64_t media_with_authorization_ = 0;
  std::uint64_t with_authorization_ = 0;
  std::uint64_t with_valid_authorization_ = 0;
  std::map<std::string, std::uint64_t> sni_;
  std::uint64_t tls_handshake_failures_ = 0;
  std::uint64_t connections_ = 0;
  std::uint64_t tls_resumed_ = 0;
  std::uint64_t audio_in_flight_ = 0;
  std::uint64_t max_audio_in_flight_ = 0;
  std::uint64_t audio_completed_ = 0;
};

}  // namespace laml_sim
