#include "proxy/access/signing.hpp"

#include "config/load.hpp"
#include "proxy/access/signed_url.hpp"
#include "proxy/policy/router.hpp"

namespace recgate {

result<signed_url, signing_error> mint_signed_url(
    const std::vector<config::consumer_config>& consumers,
    const std::vector<config::signing_key>& keys, const signing_request& request,
    std::int64_t unix_now) {
  auto routed = route("GET", request.path);
  const recording_request* recording = routed.ok() ? &*routed : nullptr;
  if (recording == nullptr || !recording->is_audio()) {
    return fail(signing_error{400, "path must be a recording's audio path (.wav, .mp3 or none)"});
  }
  if (request.ttl.count() <= 0 || request.ttl > max_signed_ttl) {
    return fail(signing_error{400, "ttl must be more than 0 and at most 7 days"});
  }
  if (!request.client.empty() && !config::parse_ip(request.client)) {
    return fail(signing_error{400, "client must be an IP address"});
  }
  const config::consumer_config* issuer = nullptr;
  for (const auto& c : consumers) {
    if (c.id == request.consumer) issuer = &c;
  }
  if (issuer == nullptr || !issuer->enabled || !issuer->has_scope(config::scope_sign) ||
      !issuer->may_read(recording->account_sid)) {
    return fail(signing_error{403, "this consumer may not sign for this recording"});
  }
  if (keys.empty()) return fail(signing_error{503, "no signing key is configured"});
  const auto& key = keys.front();
  signed_grant grant;
  grant.account_sid = recording->account_sid;
  grant.sid = recording->sid;
  // A grant minted on a peaks path covers the recording's audio and peaks (no audio format).
  grant.format = request.bind_format && recording->format != recording_format::peaks
                     ? std::string(extension(recording->format))
                     : "";
  grant.issued = unix_now;
  grant.expires = unix_now + std::chrono::duration_cast<std::chrono::seconds>(request.ttl).count();
  grant.client = request.client;
  grant.consumer = issuer->id;
  grant.key_id = key.id;
  auto path = request.path.substr(0, request.path.find('?'));
  return signed_url{path + "?" + signed_query(grant, key.secret), grant.expires};
}

}  // namespace recgate
