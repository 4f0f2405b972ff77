#include "routes.hpp"

#include "sid_modes.hpp"

namespace laml_sim {
namespace {

bool consume(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// Splits "name.ext" into name and extension; false for an extension the API does not serve.
bool split_extension(std::string_view last, std::string_view& name, recording_ext& ext) {
  const auto dot = last.rfind('.');
  name = last.substr(0, dot);
  if (dot == std::string_view::npos) {
    ext = recording_ext::none;
    return true;
  }
  const std::string_view suffix = last.substr(dot + 1);
  if (suffix == "wav")
    ext = recording_ext::wav;
  else if (suffix == "mp3")
    ext = recording_ext::mp3;
  else if (suffix == "json")
    ext = recording_ext::json;
  else
    return false;
  return true;
}

}  // namespace

route parse_route(std::string_view target) {
  route r;
  const std::string_view path = target.substr(0, target.find('?'));
  r.path = std::string(path);
  r.resource = r.path;

  std::string_view rest = path;
  if (consume(rest, "/__sim/")) {
    if (rest == "faults")
      r.kind = route_kind::faults;
    else if (rest == "requests")
      r.kind = route_kind::requests;
    else if (rest == "reset")
      r.kind = route_kind::reset;
    else if (rest == "callbacks")
      r.kind = route_kind::callbacks;
    else if (rest == "callback-sink")
      r.kind = route_kind::callback_sink;
    else if (consume(rest, "media/") && rest.find('/') == std::string_view::npos) {
      std::string_view name;
      if (split_extension(rest, name, r.ext) &&
          (r.ext == recording_ext::wav || r.ext == recording_ext::mp3)) {
        r.kind = route_kind::media;
        r.sid = std::string(name);
        r.sid_valid = is_uuid(name);
      }
    }
    return r;
  }

  consume(rest, "/api/laml");
  r.resource = std::string(rest);
  if (!consume(rest, "/2010-04-01/Accounts/")) return r;
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return r;
  const std::string_view account = rest.substr(0, slash);
  rest.remove_prefix(slash);
  if (!consume(rest, "/Recordings/") || rest.empty() || rest.find('/') != std::string_view::npos)
    return r;
  std::string_view name;
  if (!split_extension(rest, name, r.ext)) return r;
  r.kind = route_kind::recording;
  r.account = std::string(account);
  r.sid = std::string(name);
  r.sid_valid = is_uuid(name);
  return r;
}

}  // namespace laml_sim
