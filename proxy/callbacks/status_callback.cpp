#include "proxy/callbacks/status_callback.hpp"

#include <cassert>

#include "util/uuid.hpp"

namespace recgate {
namespace {

bool is_form(std::string_view content_type) {
  auto media = content_type.substr(0, content_type.find(';'));
  while (media.ends_with(' ')) media.remove_suffix(1);
  constexpr std::string_view form = "application/x-www-form-urlencoded";
  if (media.size() != form.size()) return false;
  for (std::size_t i = 0; i < form.size(); ++i) {
    char c = media[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != form[i]) return false;
  }
  return true;
}

callback_verdict refuse(unsigned status, std::string message, std::string reason) {
  callback_verdict v;
  v.status = status;
  v.message = std::move(message);
  v.reason = std::move(reason);
  return v;
}

}  // namespace

std::string signed_callback_url(const config::callbacks_config& cfg, bool secure,
                                std::string_view host, std::string_view target) {
  if (!cfg.public_url.empty()) return cfg.public_url + std::string(target);
  return std::string(secure ? "https://" : "http://") + std::string(host) + std::string(target);
}

callback_verdict evaluate_callback(const config::callbacks_config& cfg,
                                   const std::vector<callback_account>& served,
                                   const callback_input& input) {
  assert(!cfg.signing_key.empty());
  if (input.signature.empty()) {
    return refuse(403, "The callback is not signed", "no signature");
  }
  if (!is_form(input.content_type)) {
    return refuse(400, "The callback must be application/x-www-form-urlencoded", "not a form");
  }
  auto params = parse_form(input.body);
  if (!params) return refuse(400, "The callback's form body is malformed", "not a form");
  // The key of the project the callback names (verified by the signature it checks), else the
  // common one.
  auto account = normalize_uuid(form_value(*params, "AccountSid").value_or(""));
  const callback_account* project = nullptr;
  for (const auto& a : served) {
    if (account && a.account_sid == *account) project = &a;
  }
  const std::string& key =
      project && !project->signing_key.empty() ? project->signing_key : cfg.signing_key;
  if (!callback_signature_valid(key, input.url, *params, input.signature)) {
    return refuse(403, "The callback's signature does not match", "bad signature");
  }

  auto sid = normalize_uuid(form_value(*params, "RecordingSid").value_or(""));
  if (!sid) return refuse(400, "RecordingSid must be a recording Sid", "bad RecordingSid");
  if (project == nullptr)
    return refuse(400, "AccountSid is not an account this gateway serves", "unknown AccountSid");

  callback_verdict v;
  v.status = 204;
  v.account_sid = *account;
  v.recording_sid = *sid;
  v.recording_status = std::string(form_value(*params, "RecordingStatus").value_or(""));
  v.prefetch = v.recording_status == "completed";
  v.gone = v.recording_status == "absent" || v.recording_status == "failed" ||
           v.recording_status == "deleted";
  v.reason = v.prefetch ? "accepted" : "ignored";
  return v;
}

}  // namespace recgate
