// access_policy's decision for a signed URL or a grant kept in a cookie: the signature first,
// then expiry, revocation, format, client, and the issuing consumer's standing.
#include "config/load.hpp"
#include "proxy/access/access.hpp"
#include "proxy/access/signed_url.hpp"

namespace recgate {

access_decision access_policy::decide_signed(const access_request& request,
                                             std::chrono::steady_clock::time_point now) {
  return decide_signed_query(request, request.query, now);
}

access_decision access_policy::decide_signed_query(const access_request& request,
                                                   std::string_view query,
                                                   std::chrono::steady_clock::time_point now) {
  auto parsed = parse_signed_query(query);
  if (!parsed) return decided(access_outcome::forbidden, "malformed signed URL");
  auto& grant = parsed->grant;
  const config::signing_key* key = nullptr;
  for (const auto& k : signing_keys_) {
    if (k.id == grant.key_id) key = &k;
  }
  if (key == nullptr) return decided(access_outcome::forbidden, "unknown signing key");
  grant.account_sid = std::string(request.account_sid);
  grant.sid = std::string(request.sid);
  // The signature first: nothing else is looked at for a URL we did not sign.
  if (!signature_valid(grant, parsed->signature, key->secret)) {
    return decided(access_outcome::forbidden, "bad signature");
  }
  if (grant.expires < request.unix_now) return decided(access_outcome::forbidden, "expired");
  if (revocations_ && revocations_->revoked(grant.account_sid, grant.sid, grant.issued)) {
    return decided(access_outcome::forbidden, "revoked");
  }
  if (request.metadata) return decided(access_outcome::forbidden, "signed URLs are for audio");
  if (!grant.format.empty() && !request.format.empty() && grant.format != request.format) {
    return decided(access_outcome::forbidden, "signed for another format");
  }
  if (!grant.client.empty()) {
    auto bound = config::parse_ip(grant.client);
    auto actual = config::parse_ip(request.client_address);
    if (!bound || !actual || *bound != *actual) {
      return decided(access_outcome::forbidden, "signed for another client");
    }
  }
  std::size_t index = 0;
  const auto* issuer = find_consumer(grant.consumer, index);
  if (issuer == nullptr) return decided(access_outcome::forbidden, "issuer unknown");
  access_decision d;
  d.consumer = issuer->id;
  d.key_id = "signed:" + key->id;
  d.outcome = access_outcome::forbidden;
  if (!issuer->enabled)
    d.reason = "issuer disabled";
  else if (!issuer->has_scope(config::scope_sign))
    d.reason = "issuer has no sign scope";
  else if (!issuer->may_read(request.account_sid))
    d.reason = "issuer may not read the account";
  else if (!take_token(index, now, d.retry_after)) {
    d.outcome = access_outcome::rate_limited;
    d.reason = "rate limit";
  } else {
    d.outcome = access_outcome::allow;
    d.reason = "signed URL";
    d.budget = bytes_[index];
    if (!cookie_prefix_.empty()) {
      d.grant_query = signed_query(grant, key->secret);
      d.grant_expires = grant.expires;
    }
  }
  return d;
}

}  // namespace recgate
