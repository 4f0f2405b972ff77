#include "callbacks.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "metadata.hpp"
#include "sid_modes.hpp"

namespace laml_sim {
namespace {

constexpr std::size_t max_kept = 1000;

// "http://host:port/target" → host, port, target; false for anything else.
bool split_http_url(std::string_view url, outgoing_callback& out) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return false;
  auto rest = url.substr(scheme.size());
  auto slash = rest.find_first_of("/?");
  auto authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.target.front() != '/') out.target.insert(0, "/");
  auto colon = authority.rfind(':');
  if (authority.empty() || colon == std::string_view::npos) {
    out.host = std::string(authority);
    out.port = 80;
  } else {
    out.host = std::string(authority.substr(0, colon));
    unsigned port = 0;
    for (char c : authority.substr(colon + 1)) {
      if (c < '0' || c > '9' || port > 65535) return false;
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return false;
    out.port = static_cast<std::uint16_t>(port);
  }
  if (out.host.starts_with('[') && out.host.ends_with(']')) {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  return !out.host.empty();
}

void set_field(form_fields& fields, const std::string& name, std::string value) {
  for (auto& [n, v] : fields) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  fields.emplace_back(name, std::move(value));
}

// Field values from a JSON object of strings; false when it is not one.
bool apply_fields(const nlohmann::json& j, const char* key, form_fields& fields,
                  std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_object()) {
    error = std::string(key) + " must be an object of strings";
    return false;
  }
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) {
      error = std::string(key) + " must be an object of strings";
      return false;
    }
    set_field(fields, name, value.get<std::string>());
  }
  return true;
}

std::string string_or(const nlohmann::json& j, const char* key, std::string fallback, bool& ok) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_string()) ok = false;
  return it->is_string() ? it->get<std::string>() : fallback;
}

}  // namespace

std::string webhook_signature(std::string_view key, std::string_view url, form_fields fields) {
  std::sort(fields.begin(), fields.end());
  std::string data(url);
  for (const auto& [name, value] : fields) data += name + value;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  std::string out(4 * ((length + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(length));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string form_encode(const form_fields& fields) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    for (const std::string* part : {&name, &value}) {
      for (const char c : *part) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
          out += c;
        } else {
          out += '%';
          out += hex[u >> 4];
          out += hex[u & 0xf];
        }
      }
      if (part == &name) out += '=';
    }
  }
  return out;
}

std::optional<outgoing_callback> parse_callback_request(std::string_view body,
                                                        std::string_view project_id,
                                                        std::uint32_t duration,
                                                        std::string_view sim_base,
                                                        std::string& error) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = "body must be a JSON object";
    return std::nullopt;
  }
  static constexpr std::string_view known[] = {"url",    "sid",         "signing_key",
                                               "status", "account_sid", "params",
                                               "tamper", "signed_url",  "signature_header"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(std::begin(known), std::end(known), key) == std::end(known)) {
      error = "unknown field " + key;
      return std::nullopt;
    }
  }
  bool ok = true;
  outgoing_callback out;
  const std::string url = string_or(j, "url", "", ok);
  if (!split_http_url(url, out)) {
    error = "url must be an http://host:port/path URL";
    return std::nullopt;
  }
  const std::string sid = string_or(j, "sid", "", ok);
  if (!is_uuid(sid)) {
    error = "sid must be a UUID string";
    return std::nullopt;
  }
  const std::string key = string_or(j, "signing_key", "", ok);
  const std::string status = string_or(j, "status", "completed", ok);
  const std::string account = string_or(j, "account_sid", std::string(project_id), ok);
  out.signed_url = string_or(j, "signed_url", url, ok);
  out.signature_header = string_or(j, "signature_header", "X-SignalWire-Signature", ok);
  if (!ok) {
    error =
        "url, sid, signing_key, status, account_sid, signed_url and signature_header must "
        "be strings";
    return std::nullopt;
  }
  if (key.empty() && !out.signature_header.empty()) {
    error = "signing_key is required (or signature_header \"\" for an unsigned callback)";
    return std::nullopt;
  }

  // The recording's own metadata gives the call, the start time and the duration.
  const auto meta = nlohmann::json::parse(metadata_json(sid, project_id, duration));
  auto text_of = [&meta](const char* name) {
    const auto it = meta.find(name);
    if (it == meta.end() || it->is_null()) return std::string();
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  const std::string lower_sid = to_lower(sid);
  form_fields fields{
      {"AccountSid", account},
      {"CallSid", text_of("call_sid")},
      {"RecordingSid", lower_sid},
      {"RecordingUrl", std::string(sim_base) + "/api/laml/2010-04-01/Accounts/" + account +
                           "/Recordings/" + lower_sid},
      {"RecordingStatus", status},
      {"RecordingDuration", text_of("duration")},
      {"RecordingChannels", "1"},
      {"RecordingSource", text_of("source")},
      {"RecordingStartTime", text_of("start_time")},
  };
  if (!apply_fields(j, "params", fields, error)) return std::nullopt;
  if (!out.signature_header.empty()) out.signature = webhook_signature(key, out.signed_url, fields);
  if (!apply_fields(j, "tamper", fields, error)) return std::nullopt;
  out.body = form_encode(fields);
  return out;
}

std::string callback_result_json(const outgoing_callback& sent, unsigned status,
                                 std::string_view body, std::string_view error) {
  nlohmann::ordered_json j;
  j["status"] = status;
  j["body"] = std::string(body);
  if (!error.empty()) j["error"] = std::string(error);
  j["signature"] = sent.signature;
  j["form"] = sent.body;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void callback_sink::record(received_callback c) {
  const std::lock_guard lock(mutex_);
  received_.push_back(std::move(c));
  if (received_.size() > max_kept) received_.pop_front();
}

void callback_sink::clear() {
  const std::lock_guard lock(mutex_);
  received_.clear();
}

std::string callback_sink::to_json() const {
  const std::lock_guard lock(mutex_);
  nlohmann::ordered_json j;
  j["received"] = nlohmann::ordered_json::array();
  for (const auto& c : received_) {
    nlohmann::ordered_json entry;
    entry["body"] = c.body;
    entry["headers"] = nlohmann::ordered_json::object();
    for (const auto& [name, value] : c.headers) entry["headers"][name] = value;
    entry["audio_completed"] = c.audio_completed;
    j["received"].push_back(std::move(entry));
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace laml_sim
