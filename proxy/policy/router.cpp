#include "proxy/policy/router.hpp"

#include <array>
#include <cstdint>
#include <optional>

#include "util/uuid.hpp"

namespace recgate {

std::string_view extension(recording_format f) {
  switch (f) {
    case recording_format::wav:
      return "wav";
    case recording_format::mp3:
      return "mp3";
    case recording_format::json:
      return "json";
    case recording_format::peaks:
      return "peaks.json";
  }
  return "wav";
}

std::string_view content_type(recording_format f) {
  switch (f) {
    case recording_format::wav:
      return "audio/x-wav";
    case recording_format::mp3:
      return "audio/mpeg";
    case recording_format::json:
    case recording_format::peaks:
      return "application/json";
  }
  return "application/octet-stream";
}

std::string upstream_target(const recording_request& r) {
  std::string t = "/api/laml/2010-04-01/Accounts/";
  t += r.account_sid;
  t += "/Recordings/";
  t += r.sid;
  t += '.';
  t += extension(r.format);
  return t;
}

namespace {

// Unreserved characters and '/': a table, one load per character of every request's path.
constexpr std::array<bool, 256> path_chars = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789-._~/"))
    t[c] = true;
  return t;
}();

bool allowed_path_char(char c) { return path_chars[static_cast<unsigned char>(c)]; }

failure<route_error> not_found() {
  return fail(route_error{404, "The requested resource was not found"});
}

// Takes the next "/segment" off the front of path; false when path does not start with '/'.
bool next_segment(std::string_view& path, std::string_view& segment) {
  if (!path.starts_with('/')) return false;
  path.remove_prefix(1);
  auto end = path.find('/');
  segment = path.substr(0, end);
  path = end == std::string_view::npos ? std::string_view{} : path.substr(end);
  return true;
}

// The method of a recording request (GET, HEAD, or DELETE when `removable`), set on req.
bool take_method(std::string_view method, bool removable, recording_request& req) {
  if (method == "HEAD")
    req.head = true;
  else if (removable && method == "DELETE")
    req.remove = true;
  else if (method != "GET")
    return false;
  return true;
}

constexpr std::uint32_t default_samples_per_pixel = 256;

// samples_per_pixel from the query (the first one counts); nullopt when it is not a power of
// two from 64 to 65536.
std::optional<std::uint32_t> samples_per_pixel(std::string_view query) {
  constexpr std::string_view name = "samples_per_pixel=";
  while (!query.empty()) {
    auto amp = query.find('&');
    auto param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (!param.starts_with(name)) continue;
    auto digits = param.substr(name.size());
    if (digits.empty() || digits.size() > 5) return std::nullopt;
    std::uint32_t n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (n < 64 || n > 65536 || (n & (n - 1)) != 0) return std::nullopt;
    return n;
  }
  return default_samples_per_pixel;
}

// /v1/recordings/{AccountSid}/{Sid}/peaks.json, `path` after "/v1/recordings".
route_result route_peaks(std::string_view method, std::string_view path, std::string_view query) {
  std::string_view account, sid_text, name;
  if (!next_segment(path, account) || !next_segment(path, sid_text) || !next_segment(path, name) ||
      !path.empty() || name != "peaks.json" || account.empty() || sid_text.empty()) {
    return not_found();
  }
  recording_request req;
  req.format = recording_format::peaks;
  auto account_sid = normalize_uuid(account);
  if (!account_sid) return fail(route_error{400, "The AccountSid is not a valid UUID"});
  auto sid = normalize_uuid(sid_text);
  if (!sid) return fail(route_error{400, "The recording Sid is not a valid UUID"});
  if (!take_method(method, false, req)) {
    return fail(route_error{405, "The method is not allowed on waveform peaks", "GET, HEAD"});
  }
  auto spp = samples_per_pixel(query);
  if (!spp) {
    return fail(route_error{400, "samples_per_pixel must be a power of two from 64 to 65536"});
  }
  req.samples_per_pixel = *spp;
  req.account_sid = std::move(*account_sid);
  req.sid = std::move(*sid);
  return req;
}

}  // namespace

route_result route(std::string_view method, std::string_view target) {
  if (!target.starts_with('/')) return fail(route_error{400, "The request target must be a path"});
  const auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  for (char c : path) {
    if (!allowed_path_char(c)) {
      return fail(route_error{400, "The request path contains a character that is not accepted"});
    }
  }

  constexpr std::string_view peaks_prefix = "/v1/recordings";
  if (path.starts_with(peaks_prefix)) {
    return route_peaks(
        method, path.substr(peaks_prefix.size()),
        question == std::string_view::npos ? std::string_view{} : target.substr(question + 1));
  }
  constexpr std::string_view laml_prefix = "/api/laml";
  if (path.starts_with(laml_prefix) && path.substr(laml_prefix.size()).starts_with('/')) {
    path.remove_prefix(laml_prefix.size());
  }
  std::string_view version, accounts, account, recordings, last;
  if (!next_segment(path, version) || version != "2010-04-01" || !next_segment(path, accounts) ||
      accounts != "Accounts" || !next_segment(path, account) || !next_segment(path, recordings) ||
      recordings != "Recordings" || !next_segment(path, last) || !path.empty()) {
    return not_found();
  }

  auto dot = last.find('.');
  std::string_view sid_text = last.substr(0, dot);
  recording_request req;
  if (dot != std::string_view::npos) {
    std::string_view ext = last.substr(dot + 1);
    if (ext == "wav")
      req.format = recording_format::wav;
    else if (ext == "mp3")
      req.format = recording_format::mp3;
    else if (ext == "json")
      req.format = recording_format::json;
    else
      return not_found();
  }
  if (account.empty() || sid_text.empty()) return not_found();

  auto account_sid = normalize_uuid(account);
  if (!account_sid) return fail(route_error{400, "The AccountSid is not a valid UUID"});
  auto sid = normalize_uuid(sid_text);
  if (!sid) return fail(route_error{400, "The recording Sid is not a valid UUID"});

  if (!take_method(method, true, req)) {
    return fail(route_error{405, "The method is not allowed on recordings"});
  }
  req.account_sid = std::move(*account_sid);
  req.sid = std::move(*sid);
  return req;
}

}  // namespace recgate
