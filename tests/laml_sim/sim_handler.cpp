#include "sim_handler.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>

#include "basic_auth.hpp"
#include "error_body.hpp"
#include "metadata.hpp"
#include "range.hpp"
#include "routes.hpp"
#include "sid_modes.hpp"

namespace laml_sim {
namespace {

constexpr std::string_view json_type = "application/json";

response_plan start_plan(sim_state& state, const request_view& request, unsigned status) {
  response_plan plan;
  plan.status = status;
  plan.send_body = request.method != "HEAD";
  std::array<char, 24> cookie{};
  std::snprintf(cookie.data(), cookie.size(), "%016llx",
                static_cast<unsigned long long>(state.next_cookie.fetch_add(1)));
  plan.headers.emplace_back("Server", "laml-sim");
  plan.headers.emplace_back("Set-Cookie",
                            "sim_session=" + std::string(cookie.data()) + "; Path=/; HttpOnly");
  return plan;
}

response_plan text_plan(sim_state& state, const request_view& request, unsigned status,
                        std::string body, std::string_view content_type = json_type) {
  response_plan plan = start_plan(state, request, status);
  plan.headers.emplace_back("Content-Type", std::string(content_type));
  plan.content_length = body.size();
  plan.text = std::move(body);
  return plan;
}

response_plan no_content(sim_state& state, const request_view& request) {
  response_plan plan = start_plan(state, request, 204);
  plan.send_body = false;
  return plan;
}

response_plan handle_control(sim_state& state, const request_view& request, const route& r) {
  const std::string_view m = request.method;
  if (r.kind == route_kind::faults && m == "POST") {
    std::string error;
    const auto fault = parse_fault_request(request.body, error);
    if (!fault) return text_plan(state, request, 400, bad_request_json(error));
    state.faults.set(*fault);
    return no_content(state, request);
  }
  if (r.kind == route_kind::faults && m == "DELETE") {
    state.faults.clear();
    return no_content(state, request);
  }
  if (r.kind == route_kind::requests && (m == "GET" || m == "HEAD"))
    return text_plan(state, request, 200, state.stats.to_json(state.config.tls));
  if (r.kind == route_kind::reset && m == "POST") {
    state.stats.reset();
    state.faults.clear();
    state.sink.clear();
    state.deleted.clear();
    return no_content(state, request);
  }
  if (r.kind == route_kind::callbacks && m == "POST") {
    std::string error;
    std::string_view host = "127.0.0.1";
    for (const auto& [name, value] : request.headers) {
      if (iequals(name, "Host")) host = value;
    }
    const std::string base = std::string(request.sni ? "https://" : "http://") + std::string(host);
    auto callback = parse_callback_request(request.body, state.config.project_id,
                                           state.config.duration, base, error);
    if (!callback) return text_plan(state, request, 400, bad_request_json(error));
    response_plan plan = no_content(state, request);
    plan.callback = std::move(callback);
    return plan;
  }
  if (r.kind == route_kind::callback_sink && m == "POST") {
    received_callback c;
    c.body = std::string(request.body);
    for (const auto& [name, value] : request.headers) {
      if (!iequals(name, "Authorization")) c.headers.emplace_back(name, value);
    }
    c.audio_completed = state.stats.audio_completed();
    state.sink.record(std::move(c));
    return no_content(state, request);
  }
  if (r.kind == route_kind::callback_sink && (m == "GET" || m == "HEAD"))
    return text_plan(state, request, 200, state.sink.to_json());
  if (r.kind == route_kind::callback_sink && m == "DELETE") {
    state.sink.clear();
    return no_content(state, request);
  }
  return text_plan(state, request, 405, method_not_allowed_json());
}

void count(sim_state& state, const request_view& request, const route& r) {
  request_record record;
  record.path = r.path;
  record.method = std::string(request.method);
  record.has_range = request.range.has_value();
  for (const auto& [name, value] : request.headers) {
    if (iequals(name, "If-None-Match") || iequals(name, "If-Modified-Since") ||
        iequals(name, "If-Range")) {
      record.has_conditions = true;
    }
  }
  record.has_authorization = request.authorization.has_value();
  record.authorization_valid =
      request.authorization &&
      basic_auth_matches(*request.authorization, state.config.project_id, state.config.api_token);
  record.authorized_json =
      r.kind == route_kind::recording && r.ext == recording_ext::json && record.authorization_valid;
  record.media_with_authorization = r.kind == route_kind::media && record.has_authorization;
  if (request.sni) record.sni = std::string(*request.sni);
  record.new_connection = request.first_on_connection;
  record.tls_resumed = request.tls_resumed;
  state.stats.record(record);
}

// A recording's audio never changes, so its validators are fixed: an entity tag per recording
// and format, and one Last-Modified for all.
std::string audio_etag(const std::string& sid, audio_format format) {
  return "\"sim-" + sid + (format == audio_format::mp3 ? "-mp3" : "-wav") + "\"";
}
constexpr std::string_view audio_last_modified = "Wed, 01 Jan 2025 00:00:00 GMT";

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string_view> header_of(const request_view& request, std::string_view name) {
  for (const auto& [key, value] : request.headers)
    if (iequals(key, name)) return value;
  return std::nullopt;
}

// If-None-Match: "*" or a listed tag equal to `etag` (weak comparison: W/ ignored).
bool tag_listed(std::string_view list, std::string_view etag) {
  if (trimmed(list) == "*") return true;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto tag = trimmed(list.substr(0, comma));
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

response_plan audio_plan(sim_state& state, const request_view& request, const route& r,
                         const fault_rule& rule) {
  const audio_format format = r.ext == recording_ext::mp3 ? audio_format::mp3 : audio_format::wav;
  const std::string sid = to_lower(r.sid);
  const std::string_view content_type = format == audio_format::mp3 ? "audio/mpeg" : "audio/x-wav";

  if (rule.redirect && r.kind == route_kind::recording) {
    response_plan plan = start_plan(state, request, 302);
    plan.headers.emplace_back(
        "Location", "/__sim/media/" + sid + (format == audio_format::mp3 ? ".mp3" : ".wav"));
    plan.content_length = 0;
    return plan;
  }

  // Conditional requests (RFC 9110 13): If-None-Match, else If-Modified-Since (equal to our
  // Last-Modified: the sim's one date), answer 304; an If-Range that names neither validator
  // (strongly) makes a Range ask for the whole body.
  const std::string etag = audio_etag(sid, format);
  const auto if_none_match = header_of(request, "If-None-Match");
  const auto if_modified_since = header_of(request, "If-Modified-Since");
  if (if_none_match ? tag_listed(*if_none_match, etag)
                    : (if_modified_since && trimmed(*if_modified_since) == audio_last_modified)) {
    response_plan plan = start_plan(state, request, 304);
    plan.headers.emplace_back("ETag", etag);
    plan.headers.emplace_back("Last-Modified", std::string(audio_last_modified));
    plan.send_body = false;
    return plan;
  }
  const auto if_range = header_of(request, "If-Range");
  const bool range_applies = request.range && (!if_range || trimmed(*if_range) == etag ||
                                               trimmed(*if_range) == audio_last_modified);

  recording rec(sid, format, state.config.duration);
  const std::uint64_t size = rec.size();
  const range_result range =
      range_applies ? parse_range(*request.range, size) : range_result{range_kind::none};
  if (range.kind == range_kind::unsatisfiable) {
    response_plan plan =
        text_plan(state, request, 416, error_json(20416, "Requested range not satisfiable", 416));
    plan.headers.emplace_back("Accept-Ranges", "bytes");
    plan.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    return plan;
  }

  const bool partial = range.kind == range_kind::satisfiable;
  response_plan plan = start_plan(state, request, partial ? 206 : 200);
  plan.headers.emplace_back("Content-Type", std::string(content_type));
  plan.headers.emplace_back("Accept-Ranges", "bytes");
  plan.headers.emplace_back("ETag", etag);
  plan.headers.emplace_back("Last-Modified", std::string(audio_last_modified));
  if (partial) {
    plan.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                   std::to_string(range.last) + "/" +
                                                   std::to_string(size));
    plan.audio_first = range.first;
    plan.content_length = range.last - range.first + 1;
  } else {
    plan.content_length = size;
  }
  plan.audio = rec;
  plan.body_faults = rule;
  return plan;
}

}  // namespace

void response_plan::fill(std::uint64_t offset, std::span<char> out) const {
  if (audio) {
    audio->fill(audio_first + offset, out);
    return;
  }
  std::copy_n(text.data() + offset, out.size(), out.data());
}

std::string_view response_plan::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return value;
  return {};
}

response_plan handle_request(sim_state& state, const request_view& request) {
  const route r = parse_route(request.target);
  if (r.kind == route_kind::faults || r.kind == route_kind::requests ||
      r.kind == route_kind::reset || r.kind == route_kind::callbacks ||
      r.kind == route_kind::callback_sink)
    return handle_control(state, request, r);

  count(state, request, r);
  if (r.kind == route_kind::unknown)
    return text_plan(state, request, 404, not_found_json(r.resource));
  const bool remove = request.method == "DELETE" && r.kind == route_kind::recording;
  if (request.method != "GET" && request.method != "HEAD" && !remove)
    return text_plan(state, request, 405, method_not_allowed_json());
  if (!r.sid_valid) return text_plan(state, request, 404, not_found_json(r.resource));

  const fault_rule rule = state.faults.find(r.sid).value_or(fault_rule{});
  response_plan plan = [&] {
    if (r.kind == route_kind::recording && !iequals(r.account, state.config.project_id))
      return text_plan(state, request, 404, not_found_json(r.resource));
    if (parse_sid_mode(r.sid).kind == sid_kind::absent || state.deleted.contains(to_lower(r.sid)))
      return text_plan(state, request, 404, not_found_json(r.resource));
    if (rule.status)
      return text_plan(state, request, *rule.status, forced_status_json(*rule.status, r.resource));
    const bool authorized =
        request.authorization &&
        basic_auth_matches(*request.authorization, state.config.project_id, state.config.api_token);
    if (remove) {
      // Delete a Recording: Basic auth, then 204; the Sid is absent in every form afterwards.
      if (!authorized) {
        response_plan denied = text_plan(state, request, 401, unauthorized_json());
        denied.headers.emplace_back("WWW-Authenticate", "Basic realm=\"SignalWire\"");
        return denied;
      }
      state.deleted.add(to_lower(r.sid));
      return no_content(state, request);
    }
    if (r.ext != recording_ext::json) return audio_plan(state, request, r, rule);
    if (!authorized) {
      response_plan denied = text_plan(state, request, 401, unauthorized_json());
      denied.headers.emplace_back("WWW-Authenticate", "Basic realm=\"SignalWire\"");
      return denied;
    }
    response_plan ok = text_plan(
        state, request, 200, metadata_json(r.sid, state.config.project_id, state.config.duration));
    ok.body_faults = rule;
    return ok;
  }();
  // Latency delays every answer for the Sid, errors included, as a slow upstream would.
  plan.latency_ms = rule.latency_ms;
  return plan;
}

response_plan callback_result_plan(sim_state& state, const request_view& request,
                                   const outgoing_callback& sent, unsigned status,
                                   std::string_view body, std::string_view error) {
  return text_plan(state, request, 200, callback_result_json(sent, status, body, error));
}

response_plan protocol_error_plan(sim_state& state, unsigned status, std::string_view message) {
  const request_view request{"GET", "", std::nullopt, std::nullopt, {}};
  return text_plan(state, request, status, error_json(20000 + status, message, status));
}

}  // namespace laml_sim
