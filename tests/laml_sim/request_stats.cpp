#include "request_stats.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace laml_sim {

void request_stats::record(const request_record& r) {
  const std::lock_guard lock(mutex_);
  ++total_;
  ++paths_[r.path];
  ++methods_[r.method];
  ranges_ += r.has_range ? 1 : 0;
  conditionals_ += r.has_conditions ? 1 : 0;
  authorized_json_ += r.authorized_json ? 1 : 0;
  media_with_authorization_ += r.media_with_authorization ? 1 : 0;
  with_authorization_ += r.has_authorization ? 1 : 0;
  with_valid_authorization_ += r.authorization_valid ? 1 : 0;
  if (r.sni) ++sni_[*r.sni];
  connections_ += r.new_connection ? 1 : 0;
  tls_resumed_ += r.new_connection && r.tls_resumed ? 1 : 0;
}

void request_stats::record_handshake_failure() {
  const std::lock_guard lock(mutex_);
  ++tls_handshake_failures_;
}

void request_stats::audio_started() {
  const std::lock_guard lock(mutex_);
  ++audio_in_flight_;
  max_audio_in_flight_ = std::max(max_audio_in_flight_, audio_in_flight_);
}

void request_stats::audio_finished(bool whole) {
  const std::lock_guard lock(mutex_);
  --audio_in_flight_;
  audio_completed_ += whole ? 1 : 0;
}

std::uint64_t request_stats::audio_completed() const {
  const std::lock_guard lock(mutex_);
  return audio_completed_;
}

void request_stats::reset() {
  const std::lock_guard lock(mutex_);
  // Bodies being sent now stay counted as in flight: they finish after the reset.
  max_audio_in_flight_ = audio_in_flight_;
  audio_completed_ = 0;
  total_ = 0;
  paths_.clear();
  methods_.clear();
  ranges_ = 0;
  conditionals_ = 0;
  authorized_json_ = 0;
  media_with_authorization_ = 0;
  with_authorization_ = 0;
  with_valid_authorization_ = 0;
  sni_.clear();
  tls_handshake_failures_ = 0;
  connections_ = 0;
  tls_resumed_ = 0;
}

std::string request_stats::to_json(bool tls) const {
  const std::lock_guard lock(mutex_);
  nlohmann::ordered_json j;
  j["total"] = total_;
  j["paths"] = nlohmann::ordered_json::object();
  for (const auto& [path, n] : paths_) j["paths"][path] = n;
  j["methods"] = nlohmann::ordered_json::object();
  for (const auto& [method, n] : methods_) j["methods"][method] = n;
  j["ranges"] = ranges_;
  j["conditionals"] = conditionals_;
  j["authorized_json"] = authorized_json_;
  j["media_with_authorization"] = media_with_authorization_;
  j["requests_with_authorization"] = with_authorization_;
  j["requests_with_valid_authorization"] = with_valid_authorization_;
  j["connections"] = connections_;
  j["audio_in_flight"] = audio_in_flight_;
  j["max_audio_in_flight"] = max_audio_in_flight_;
  j["audio_completed"] = audio_completed_;
  if (tls) {
    j["sni"] = nlohmann::ordered_json::object();
    for (const auto& [name, n] : sni_) j["sni"][name] = n;
    j["tls_handshake_failures"] = tls_handshake_failures_;
    j["tls_resumed"] = tls_resumed_;
  }
  return j.dump();
}

}  // namespace laml_sim
