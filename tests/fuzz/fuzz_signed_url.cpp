// Fuzz target: signed-URL verification (proxy/access/signed_url.hpp) and the access decision for a
// request that carries one (access_policy::decide without an Authorization header).
// Input, one field a line: the query string (without '?'), the client address (empty:
// 10.1.2.3), and the recording path asked for (empty or not a recording: account A's .wav).
// The seeds' valid signatures are made with fuzz_policy.hpp's signing secret.

#include <chrono>
#include <string>
#include <variant>

#include "fuzz_policy.hpp"
#include "fuzz_support.hpp"
#include "proxy/access/signed_url.hpp"
#include "proxy/policy/router.hpp"

namespace {

using namespace recgate;

bool same_grant(const signed_grant& a, const signed_grant& b) {
  return a.format == b.format && a.issued == b.issued && a.expires == b.expires &&
         a.client == b.client && a.consumer == b.consumer && a.key_id == b.key_id;
}

const config::signing_key* signing_key_of(const config::config& cfg, std::string_view id) {
  const config::signing_key* found = nullptr;
  for (const auto& k : cfg.signing_keys) {
    if (k.id == id) found = &k;
  }
  return found;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = fuzz::fields(fuzz::as_text(data, size), 3);
  std::string_view query = f[0];
  static const config::config cfg = fuzz::policy_config();

  recording_request recording;
  recording.account_sid = fuzz::account_a;
  recording.sid = fuzz::recording_sid;
  if (auto routed = route("GET", f[2]); routed.ok()) {
    recording = *routed;
  }

  auto parsed = parse_signed_query(query);
  if (parsed) {
    FUZZ_CHECK(has_signature(query));
    auto& grant = parsed->grant;
    FUZZ_CHECK(grant.account_sid.empty() && grant.sid.empty());
    FUZZ_CHECK(!grant.consumer.empty() && !grant.key_id.empty() && !parsed->signature.empty());
    FUZZ_CHECK(grant.format.empty() || grant.format == "wav" || grant.format == "mp3");
    grant.account_sid = recording.account_sid;
    grant.sid = recording.sid;
    // Signing the parsed grant again gives a query that parses to the same grant, whose
    // signature is valid; the input's signature is valid exactly when it is that one.
    auto requery = signed_query(grant, fuzz::signing_secret());
    auto reparsed = parse_signed_query(requery);
    FUZZ_CHECK(reparsed && same_grant(reparsed->grant, grant));
    FUZZ_CHECK(signature_valid(grant, reparsed->signature, fuzz::signing_secret()));
    FUZZ_CHECK(signature_valid(grant, parsed->signature, fuzz::signing_secret()) ==
               (parsed->signature == reparsed->signature));
    FUZZ_CHECK(!signature_valid(grant, reparsed->signature + "A", fuzz::signing_secret()));
  }

  access_policy policy(cfg);
  access_request request;
  request.account_sid = recording.account_sid;
  request.sid = recording.sid;
  request.format = extension(recording.format);
  request.metadata = !recording.is_audio();
  request.client_address = f[1].empty() ? std::string_view("10.1.2.3") : f[1];
  request.query = query;
  request.unix_now = fuzz::unix_now;
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  auto decision = policy.decide(request, now);
  FUZZ_CHECK(!decision.reason.empty());
  if (!has_signature(query)) FUZZ_CHECK(decision.outcome == access_outcome::unauthenticated);
  if (decision.outcome != access_outcome::allow) return 0;

  // Allowed: a whole, unexpired grant for this recording, format and client, signed with one
  // of our keys and issued by an enabled consumer with the sign scope for the account.
  FUZZ_CHECK(parsed);
  const auto& grant = parsed->grant;
  const auto* key = signing_key_of(cfg, grant.key_id);
  FUZZ_CHECK(key && signature_valid(grant, parsed->signature, key->secret));
  FUZZ_CHECK(grant.expires >= fuzz::unix_now);
  FUZZ_CHECK(recording.is_audio());
  FUZZ_CHECK(grant.format.empty() || grant.format == extension(recording.format));
  if (!grant.client.empty()) {
    FUZZ_CHECK(config::parse_ip(grant.client) == config::parse_ip(request.client_address));
  }
  FUZZ_CHECK(decision.consumer == grant.consumer);
  bool issuer_ok = false;
  for (const auto& c : cfg.consumers) {
    issuer_ok = issuer_ok || (c.id == grant.consumer && c.enabled && c.has_scope("sign") &&
                              c.may_read(recording.account_sid));
  }
  FUZZ_CHECK(issuer_ok);

  // The same grant signed again with that key passes (or meets the rate limit); one character
  // more on its signature, or another recording, and it is refused.
  auto resigned = signed_query(grant, key->secret);
  request.query = resigned;
  auto again = policy.decide(request, now).outcome;
  FUZZ_CHECK(again == access_outcome::allow || again == access_outcome::rate_limited);
  std::string tampered = resigned + "A";
  request.query = tampered;
  FUZZ_CHECK(policy.decide(request, now).outcome == access_outcome::forbidden);
  request.query = resigned;
  std::string other_account = fuzz::account_b;
  request.account_sid = other_account;
  FUZZ_CHECK(policy.decide(request, now).outcome == access_outcome::forbidden);
  return 0;
}
