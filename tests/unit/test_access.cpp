// The access decision matrix: credential kind x scope x account x network x state, each with
// its expected outcome. No sockets: the policy is pure (time passed in).
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include "config/load.hpp"
#include "proxy/access/access.hpp"
#include "util/codec.hpp"

using namespace recgate;
using namespace std::chrono_literals;

namespace {

constexpr const char* account_a = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
constexpr const char* account_b = "00000000-0000-4000-8000-000000000000";

std::string hash_hex(std::string_view key) {
  auto d = sha256(key);
  return to_hex(d.data(), d.size());
}

std::string basic(std::string_view user, std::string_view password) {
  std::string in = std::string(user) + ":" + std::string(password);
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  return "Basic " + out;
}

config::consumer_config consumer(std::string id, std::vector<std::string> keys,
                                 std::vector<std::string> scopes,
                                 std::vector<std::string> accounts) {
  config::consumer_config c;
  c.id = std::move(id);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    c.keys.push_back({"k" + std::to_string(i), hash_hex(keys[i])});
  }
  c.scopes = std::move(scopes);
  c.accounts = std::move(accounts);
  return c;
}

config::config policy_config() {
  config::config cfg;
  cfg.consumers.push_back(consumer("player", {"key-player"}, {"audio"}, {account_a}));
  cfg.consumers.push_back(
      consumer("billing", {"key-billing-old", "key-billing-new"}, {"metadata"}, {"*"}));
  auto office = consumer("office", {"key-office"}, {"audio", "metadata"}, {"*"});
  office.networks.push_back(*config::parse_cidr("10.0.0.0/8"));
  cfg.consumers.push_back(office);
  auto off = consumer("retired", {"key-retired"}, {"audio", "metadata"}, {"*"});
  off.enabled = false;
  cfg.consumers.push_back(off);
  auto batch = consumer("report", {"key-report"}, {"metadata"}, {"*"});
  batch.rate_per_second = 2;
  batch.burst = 3;
  cfg.consumers.push_back(batch);
  return cfg;
}

const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;

}  // namespace

TEST_CASE("credential parsing") {
  CHECK(bearer_token("Bearer abc") == std::string_view("abc"));
  CHECK(bearer_token("bearer   abc  ") == std::string_view("abc"));
  CHECK_FALSE(bearer_token("Bearer"));
  CHECK_FALSE(bearer_token("Bearerabc"));
  CHECK_FALSE(bearer_token("Bearer a b"));
  auto b = basic_auth(basic("user", "pass:word"));
  REQUIRE(b);
  CHECK(b->user == "user");
  CHECK(b->password == "pass:word");
  CHECK(basic_auth(basic("u", "p"))->password == "p");     // "u:p" has padding
  CHECK(basic_auth(basic("us", "pw"))->password == "pw");  // other padding
  CHECK_FALSE(basic_auth("Basic !!!!"));
  CHECK_FALSE(basic_auth("Basic dXNlcg=="));  // "user": no colon
  CHECK_FALSE(basic_auth("Basic abc"));
  CHECK(hash_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("the decision matrix") {
  access_policy policy(policy_config());
  struct row {
    std::string authorization;
    const char* account;
    bool metadata;
    const char* client;
    access_outcome expected;
    const char* consumer;
  };
  using o = access_outcome;
  const std::vector<row> rows{
      // No or bad credentials: 401, and nothing says which consumers exist.
      {"", account_a, false, "127.0.0.1", o::unauthenticated, "-"},
      {"Bearer nope", account_a, false, "127.0.0.1", o::unauthenticated, "-"},
      {"Token key-player", account_a, false, "127.0.0.1", o::unauthenticated, "-"},
      {"Bearer " + hash_hex("key-player"), account_a, false, "127.0.0.1", o::unauthenticated, "-"},
      {basic("player", "nope"), account_a, false, "127.0.0.1", o::unauthenticated, "-"},
      // Bearer: scope and account.
      {"Bearer key-player", account_a, false, "127.0.0.1", o::allow, "player"},
      {"Bearer key-player", account_a, true, "127.0.0.1", o::forbidden, "player"},
      {"Bearer key-player", account_b, false, "127.0.0.1", o::forbidden, "player"},
      {"Bearer key-billing-old", account_b, true, "127.0.0.1", o::allow, "billing"},
      {"Bearer key-billing-new", account_a, true, "127.0.0.1", o::allow, "billing"},
      {"Bearer key-billing-new", account_a, false, "127.0.0.1", o::forbidden, "billing"},
      // Basic: username = consumer id, or the path's AccountSid (the SDK's form).
      {basic("player", "key-player"), account_a, false, "127.0.0.1", o::allow, "player"},
      {basic(account_a, "key-player"), account_a, false, "127.0.0.1", o::allow, "player"},
      {basic("720796A0-8EE9-4350-83BD-2D07A3121F1E", "key-player"), account_a, false, "::1",
       o::allow, "player"},
      {basic(account_b, "key-billing-new"), account_a, true, "127.0.0.1", o::unauthenticated, "-"},
      {basic("billing", "key-player"), account_a, false, "127.0.0.1", o::unauthenticated, "-"},
      {basic(account_b, "key-player"), account_b, false, "127.0.0.1", o::forbidden, "player"},
      // Networks.
      {"Bearer key-office", account_a, false, "10.1.2.3", o::allow, "office"},
      {"Bearer key-office", account_a, false, "127.0.0.1", o::forbidden, "office"},
      {"Bearer key-office", account_a, false, "::ffff:10.1.2.3", o::allow, "office"},
      {"Bearer key-office", account_a, false, "not-an-ip", o::forbidden, "office"},
      // Disabled.
      {"Bearer key-retired", account_a, false, "127.0.0.1", o::forbidden, "retired"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.authorization);
    CAPTURE(r.account);
    CAPTURE(r.metadata);
    CAPTURE(r.client);
    auto d = policy.decide({r.authorization, r.account, r.metadata, r.client}, t0);
    CHECK(d.outcome == r.expected);
    CHECK(d.consumer == r.consumer);
    CHECK_FALSE(d.reason.empty());
  }
  MESSAGE("decision matrix rows: " << rows.size());
}

TEST_CASE("key rotation: both keys valid, each named in the decision") {
  access_policy policy(policy_config());
  auto old_key = policy.decide({"Bearer key-billing-old", account_a, true, "127.0.0.1"}, t0);
  auto new_key = policy.decide({"Bearer key-billing-new", account_a, true, "127.0.0.1"}, t0);
  CHECK(old_key.outcome == access_outcome::allow);
  CHECK(new_key.outcome == access_outcome::allow);
  CHECK(old_key.key_id == "k0");
  CHECK(new_key.key_id == "k1");
}

TEST_CASE("a connection's key memo: the decisions of hashing every time, across keys and reloads") {
  access_policy policy(policy_config());
  key_digest_memo memo;
  access_request req{"Bearer key-billing-old", account_a, true, "127.0.0.1"};
  req.key_memo = &memo;
  auto first = policy.decide(req, t0);
  CHECK(first.outcome == access_outcome::allow);
  CHECK(first.key_id == "k0");
  CHECK(memo.authorization == "Bearer key-billing-old");
  CHECK(memo.digest == sha256("key-billing-old"));
  CHECK(policy.decide(req, t0).key_id == "k0");  // from the memo, the same answer

  // Another key on the same connection is hashed, not mistaken for the last one.
  req.authorization = "Bearer key-player";
  auto player = policy.decide(req, t0);
  CHECK(player.consumer == "player");
  CHECK(memo.digest == sha256("key-player"));
  req.authorization = "Bearer not-a-key";
  CHECK(policy.decide(req, t0).outcome == access_outcome::unauthenticated);

  // A reload that drops the consumer refuses the remembered key at once: only the digest is
  // remembered, never the match.
  req.authorization = "Bearer key-billing-old";
  CHECK(policy.decide(req, t0).outcome == access_outcome::allow);
  auto cfg = policy_config();
  cfg.consumers.erase(cfg.consumers.begin() + 1);  // billing
  access_policy reloaded(cfg, nullptr, &policy);
  CHECK(reloaded.decide(req, t0).outcome == access_outcome::unauthenticated);
}

TEST_CASE("rate limit: a burst, then 429 with Retry-After, then recovery") {
  access_policy policy(policy_config());
  access_request req{"Bearer key-report", account_a, true, "127.0.0.1"};
  for (int i = 0; i < 3; ++i) CHECK(policy.decide(req, t0).outcome == access_outcome::allow);
  auto limited = policy.decide(req, t0);
  CHECK(limited.outcome == access_outcome::rate_limited);
  CHECK(limited.retry_after >= 1s);
  CHECK(policy.decide(req, t0 + 100ms).outcome == access_outcome::rate_limited);
  CHECK(policy.decide(req, t0 + 600ms).outcome == access_outcome::allow);  // 2/s refills
  // Another consumer is not affected.
  CHECK(policy.decide({"Bearer key-billing-new", account_a, true, "127.0.0.1"}, t0).outcome ==
        access_outcome::allow);
}

TEST_CASE("public_audio: audio without a key, metadata still needs one") {
  auto cfg = policy_config();
  cfg.access.public_audio = true;
  access_policy policy(cfg);
  CHECK(policy.decide({"", account_b, false, "127.0.0.1"}, t0).outcome == access_outcome::allow);
  CHECK(policy.decide({"", account_b, true, "127.0.0.1"}, t0).outcome ==
        access_outcome::unauthenticated);
  // A bad key is still refused: public access is for requests without credentials.
  CHECK(policy.decide({"Bearer nope", account_b, false, "127.0.0.1"}, t0).outcome ==
        access_outcome::unauthenticated);
}

TEST_CASE("client certificates: a verified identity names a consumer; the usual checks follow") {
  auto cfg = policy_config();
  auto svc = consumer("svc", {}, {"metadata"}, {account_a});
  svc.certificates = {"DNS:svc.internal", "URI:spiffe://corp/svc"};
  cfg.consumers.push_back(svc);
  auto gone = consumer("gone", {}, {"audio"}, {"*"});
  gone.certificates = {"CN=gone"};
  gone.enabled = false;
  cfg.consumers.push_back(gone);
  access_policy policy(cfg);
  struct row {
    std::vector<std::string> identities;
    std::string authorization;
    const char* account;
    bool metadata;
    access_outcome expected;
    const char* consumer;
  };
  using o = access_outcome;
  const std::vector<row> rows{
      {{"CN=svc", "DNS:svc.internal"}, "", account_a, true, o::allow, "svc"},
      {{"URI:spiffe://corp/svc"}, "", account_a, true, o::allow, "svc"},
      {{"DNS:svc.internal"}, "", account_b, true, o::forbidden, "svc"},     // account
      {{"DNS:svc.internal"}, "", account_a, false, o::forbidden, "svc"},    // scope
      {{"CN=gone"}, "", account_a, false, o::forbidden, "gone"},            // disabled
      {{"CN=svc.internal"}, "", account_a, true, o::unauthenticated, "-"},  // CN is not DNS:
      {{}, "", account_a, true, o::unauthenticated, "-"},
      // A key, when sent, is what counts: a certificate does not rescue a bad key.
      {{"DNS:svc.internal"}, "Bearer nope", account_a, true, o::unauthenticated, "-"},
      {{"DNS:svc.internal"}, "Bearer key-player", account_a, false, o::allow, "player"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.identities.size());
    CAPTURE(r.authorization);
    access_request req{r.authorization, r.account, r.metadata, "127.0.0.1"};
    req.certificate = &r.identities;
    auto d = policy.decide(req, t0);
    CHECK(d.outcome == r.expected);
    CHECK(d.consumer == r.consumer);
    if (r.expected == o::allow && r.authorization.empty()) CHECK(d.key_id.starts_with("cert:"));
  }
  MESSAGE("certificate matrix rows: " << rows.size());
}

TEST_CASE("a reload keeps the rate-limit state of consumers that stay") {
  auto cfg = policy_config();
  access_policy first(cfg);
  access_request req{"Bearer key-report", account_a, true, "127.0.0.1"};
  for (int i = 0; i < 3; ++i) CHECK(first.decide(req, t0).outcome == access_outcome::allow);
  access_policy reloaded(cfg, nullptr, &first);
  CHECK(reloaded.decide(req, t0).outcome == access_outcome::rate_limited);
  access_policy fresh(cfg);
  CHECK(fresh.decide(req, t0).outcome == access_outcome::allow);
}

TEST_CASE("token_bucket as a byte budget: one second's worth at once, then paced at the rate") {
  token_bucket budget(1000, 1000);
  CHECK(budget.take(1000, t0).count() == 0);
  auto wait = budget.take(500, t0);
  CHECK(wait == std::chrono::milliseconds(500));
  // Half a second later the debt is paid: the next 500 bytes wait another half second.
  CHECK(budget.take(500, t0 + 500ms) == std::chrono::milliseconds(500));
  CHECK(budget.take(100, t0 + 2s).count() == 0);
}

TEST_CASE("token_bucket as a request limit: a burst, then refusals saying how long to wait") {
  token_bucket requests(2, 3);  // 2 a second, 3 at once
  std::chrono::nanoseconds wait{0};
  for (int i = 0; i < 3; ++i) CHECK(requests.try_take(1, t0, wait));
  CHECK_FALSE(requests.try_take(1, t0, wait));
  CHECK(wait == std::chrono::milliseconds(500));
  // A refusal takes nothing: a quarter second later half a token, still refused, 250 ms to go.
  CHECK_FALSE(requests.try_take(1, t0 + 250ms, wait));
  CHECK(wait == std::chrono::milliseconds(250));
  CHECK(requests.try_take(1, t0 + 500ms, wait));
  // Never more than the burst, however long it rested.
  for (int i = 0; i < 3; ++i) CHECK(requests.try_take(1, t0 + 60s, wait));
  CHECK_FALSE(requests.try_take(1, t0 + 60s, wait));
}
