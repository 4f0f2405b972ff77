#include <cstdio>
#include <memory>

#include <doctest/doctest.h>
#include <unistd.h>

#include "proxy/access/access.hpp"
#include "proxy/access/signed_url.hpp"

using namespace recgate;
using namespace std::chrono_literals;

namespace {

constexpr const char* account = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
constexpr const char* sid = "19e436af-5688-4307-b03b-bdb2b42b8142";
const std::string secret(40, 's');
constexpr std::int64_t now_unix = 1'800'000'000;

signed_grant grant() {
  signed_grant g;
  g.account_sid = account;
  g.sid = sid;
  g.expires = now_unix + 600;
  g.consumer = "portal";
  g.key_id = "s1";
  return g;
}

config::config policy_config() {
  config::config cfg;
  config::consumer_config portal;
  portal.id = "portal";
  portal.scopes = {"sign"};
  portal.accounts = {account};
  cfg.consumers.push_back(portal);
  config::consumer_config player = portal;
  player.id = "player";
  player.scopes = {"audio"};
  cfg.consumers.push_back(player);
  cfg.signing_keys.push_back({"s1", secret});
  cfg.signing_keys.push_back({"s0", std::string(40, 'o')});
  return cfg;
}

access_decision ask(access_policy& policy, const std::string& query,
                    std::string_view format = "mp3", std::string_view client = "127.0.0.1",
                    std::string_view for_sid = sid, std::int64_t at = now_unix) {
  access_request r;
  r.account_sid = account;
  r.metadata = format == "json";
  r.client_address = client;
  r.sid = for_sid;
  r.format = format;
  r.query = query;
  r.unix_now = at;
  return policy.decide(r, std::chrono::steady_clock::time_point{} + 1000s);
}

}  // namespace

TEST_CASE("signed queries round-trip, and a parameter twice is refused") {
  auto g = grant();
  g.client = "::1";
  g.format = "wav";
  auto q = signed_query(g, secret);
  CHECK(has_signature(q));
  CHECK(has_signature("t=1&" + q));
  CHECK_FALSE(has_signature("t=1&x=rg_sig"));
  auto parsed = parse_signed_query("player=1&" + q);
  REQUIRE(parsed);
  CHECK(parsed->grant.expires == g.expires);
  CHECK(parsed->grant.client == "::1");
  CHECK(parsed->grant.format == "wav");
  CHECK(parsed->grant.consumer == "portal");
  parsed->grant.account_sid = account;
  parsed->grant.sid = sid;
  CHECK(signature_valid(parsed->grant, parsed->signature, secret));
  CHECK_FALSE(signature_valid(parsed->grant, parsed->signature, std::string(40, 'x')));
  CHECK_FALSE(parse_signed_query(q + "&rg_consumer=other"));
  CHECK_FALSE(parse_signed_query("rg_expires=1&rg_key=s1&rg_sig=x"));  // no consumer
  CHECK_FALSE(parse_signed_query("rg_expires=x&rg_consumer=a&rg_key=s1&rg_sig=x"));
  CHECK_FALSE(parse_signed_query(q + "&rg_format=json"));
}

TEST_CASE("signed URL decisions: valid, expired, tampered, rebound, not an issuer") {
  access_policy policy(policy_config());
  auto g = grant();
  auto q = signed_query(g, secret);
  using o = access_outcome;
  CHECK(ask(policy, q).outcome == o::allow);
  CHECK(ask(policy, q).consumer == "portal");
  CHECK(ask(policy, q, "wav").outcome == o::allow);              // not bound to a format
  CHECK(ask(policy, q, "json").outcome == o::forbidden);         // audio only
  CHECK(ask(policy, q, "mp3", "10.9.9.9").outcome == o::allow);  // not bound to a client
  CHECK(ask(policy, q, "mp3", "127.0.0.1", sid, now_unix + 601).outcome ==
        o::forbidden);  // expired
  CHECK(ask(policy, q, "mp3", "127.0.0.1", "00000000-0000-4000-8000-000000000000").outcome ==
        o::forbidden);  // another recording

  // Tampering with any signed field breaks it.
  auto tampered_expiry = q;
  tampered_expiry.replace(tampered_expiry.find(std::to_string(g.expires)), 10,
                          std::to_string(g.expires + 9999).substr(0, 10));
  CHECK(ask(policy, tampered_expiry).reason == "bad signature");
  auto other_consumer = q;
  other_consumer.replace(other_consumer.find("portal"), 6, "player");
  CHECK(ask(policy, other_consumer).outcome == o::forbidden);
  CHECK(ask(policy, q.substr(0, q.size() - 2)).reason == "bad signature");
  CHECK(ask(policy, "rg_expires=1").reason == "malformed signed URL");

  // Bound to a format and a client.
  auto bound = grant();
  bound.format = "mp3";
  bound.client = "10.1.1.1";
  auto qb = signed_query(bound, secret);
  CHECK(ask(policy, qb, "mp3", "10.1.1.1").outcome == o::allow);
  CHECK(ask(policy, qb, "wav", "10.1.1.1").reason == "signed for another format");
  CHECK(ask(policy, qb, "mp3", "10.1.1.2").reason == "signed for another client");

  // Rotation: a URL under the older key still verifies; an unknown key id does not.
  auto older = grant();
  older.key_id = "s0";
  CHECK(ask(policy, signed_query(older, std::string(40, 'o'))).outcome == o::allow);
  auto unknown = grant();
  unknown.key_id = "s9";
  CHECK(ask(policy, signed_query(unknown, secret)).reason == "unknown signing key");

  // Only a consumer with the sign scope can issue.
  auto by_player = grant();
  by_player.consumer = "player";
  CHECK(ask(policy, signed_query(by_player, secret)).reason == "issuer has no sign scope");
}

TEST_CASE("revocation voids a recording's URLs issued up to then, and persists") {
  char name[] = "/tmp/recgate-revocations-XXXXXX";
  int fd = mkstemp(name);
  REQUIRE(fd >= 0);
  close(fd);
  auto list = std::make_shared<revocation_list>();
  CHECK(list->load(name).ok());
  access_policy policy(policy_config(), list);
  auto before = grant();
  before.issued = now_unix - 100;
  auto after = grant();
  after.issued = now_unix + 1;
  auto q_before = signed_query(before, secret);
  auto q_after = signed_query(after, secret);
  CHECK(ask(policy, q_before).outcome == access_outcome::allow);
  CHECK(list->revoke(account, sid, now_unix).ok());
  CHECK(ask(policy, q_before).reason == "revoked");
  CHECK(ask(policy, q_after).outcome == access_outcome::allow);
  // Another recording is untouched.
  auto other = grant();
  other.sid = "00000000-0000-4000-8000-000000000000";
  other.issued = now_unix - 100;
  CHECK(ask(policy, signed_query(other, secret), "mp3", "127.0.0.1", other.sid).outcome ==
        access_outcome::allow);
  // Read back by a new list, as after a restart.
  revocation_list reread;
  CHECK(reread.load(name).ok());
  CHECK(reread.revoked(account, sid, now_unix - 100));
  CHECK_FALSE(reread.revoked(account, sid, now_unix + 1));
  std::remove(name);
}
