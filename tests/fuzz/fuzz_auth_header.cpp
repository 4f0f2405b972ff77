// Fuzz target: Basic and Bearer Authorization headers (proxy/access/access.hpp: bearer_token,
// basic_auth) and the access decision built on them.
// Input, one field a line: the Authorization value, the client address (empty: 127.0.0.1), and
// a recording path to ask for ("sign" or "admin": that scope instead; empty or not a recording:
// account A's .wav).

#include <chrono>
#include <string>
#include <variant>

#include <openssl/evp.h>

#include "fuzz_policy.hpp"
#include "fuzz_support.hpp"
#include "proxy/policy/router.hpp"
#include "util/uuid.hpp"

namespace {

using namespace recgate;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_scheme(std::string_view header, std::string_view scheme) {
  if (header.size() <= scheme.size() || header[scheme.size()] != ' ') return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (lower(header[i]) != scheme[i]) return false;
  }
  return true;
}

std::string base64(std::string_view plain) {
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(plain.data()),
                          static_cast<int>(plain.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

void check_bearer(std::string_view header) {
  if (auto token = bearer_token(header)) {
    FUZZ_CHECK(starts_with_scheme(header, "bearer"));
    FUZZ_CHECK(!token->empty() && token->find(' ') == std::string_view::npos);
    FUZZ_CHECK(header.find(*token) != std::string_view::npos);
  }
  // Any token without a space comes back whole, whatever the scheme's case and the padding.
  if (!header.empty() && header.find(' ') == std::string_view::npos) {
    FUZZ_CHECK(bearer_token("Bearer " + std::string(header)) == header);
    FUZZ_CHECK(bearer_token("bEaReR   " + std::string(header) + "  ") == header);
    FUZZ_CHECK(!bearer_token("Bearer" + std::string(header)));
  }
}

void check_basic(std::string_view header) {
  if (auto credentials = basic_auth(header)) {
    FUZZ_CHECK(starts_with_scheme(header, "basic"));
    FUZZ_CHECK(credentials->user.find(':') == std::string::npos);
    FUZZ_CHECK(credentials->user.size() + 1 + credentials->password.size() <= header.size());
    auto again = basic_auth("Basic " + base64(credentials->user + ":" + credentials->password));
    FUZZ_CHECK(again && again->user == credentials->user &&
               again->password == credentials->password);
  }
  // "user:password" of any bytes survives encoding and decoding.
  auto colon = header.find(':');
  if (colon != std::string_view::npos && header.size() <= 3000) {
    auto decoded = basic_auth("Basic " + base64(header));
    FUZZ_CHECK(decoded && decoded->user == header.substr(0, colon) &&
               decoded->password == header.substr(colon + 1));
  }
}

// The key a header carries, the way decide() reads it.
std::optional<std::string> key_of(std::string_view header) {
  if (auto token = bearer_token(header)) return std::string(*token);
  if (auto credentials = basic_auth(header)) return credentials->password;
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = fuzz::fields(fuzz::as_text(data, size), 3);
  check_bearer(f[0]);
  check_basic(f[0]);

  static const config::config cfg = fuzz::policy_config();
  access_policy policy(cfg);
  access_request request;
  request.authorization = f[0];
  request.client_address = f[1].empty() ? std::string_view("127.0.0.1") : f[1];
  request.unix_now = fuzz::unix_now;
  recording_request recording;
  recording.account_sid = fuzz::account_a;
  recording.sid = fuzz::recording_sid;
  if (f[2] == "sign" || f[2] == "admin") {
    request.scope = f[2];
  } else if (auto routed = route("GET", f[2]); routed.ok()) {
    recording = *routed;
  }
  request.account_sid = recording.account_sid;
  request.sid = recording.sid;
  request.format = extension(recording.format);
  request.metadata = !recording.is_audio();

  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  auto decision = policy.decide(request, now);
  FUZZ_CHECK(!decision.reason.empty());
  if (decision.outcome == access_outcome::unauthenticated) FUZZ_CHECK(decision.consumer == "-");
  if (decision.outcome != access_outcome::allow &&
      decision.outcome != access_outcome::rate_limited) {
    return 0;
  }

  // Allowed (or only over the rate): the header carried a key of that very consumer, which is
  // enabled, has the scope and may read the account.
  auto key = key_of(f[0]);
  FUZZ_CHECK(key);
  bool known = false;
  for (const auto& k : fuzz::known_keys())
    known = known || (*key == k.key && decision.consumer == k.consumer);
  FUZZ_CHECK(known);
  const config::consumer_config* consumer = nullptr;
  for (const auto& c : cfg.consumers) {
    if (c.id == decision.consumer) consumer = &c;
  }
  FUZZ_CHECK(consumer && consumer->enabled);
  std::string_view scope = !request.scope.empty() ? request.scope
                           : request.metadata     ? "metadata"
                                                  : "audio";
  FUZZ_CHECK(consumer->has_scope(scope));
  FUZZ_CHECK(scope == "admin" || consumer->may_read(request.account_sid));
  if (!bearer_token(f[0])) {
    auto user = basic_auth(f[0])->user;
    FUZZ_CHECK(user == consumer->id || normalize_uuid(user) == std::string(request.account_sid));
  }
  if (consumer->networks.empty()) FUZZ_CHECK(decision.outcome == access_outcome::allow);

  // The rate limit: sdk's burst of 2 at one instant, then 429 with a Retry-After.
  if (consumer->rate_per_second > 0) {
    auto second = policy.decide(request, now);
    auto third = policy.decide(request, now);
    FUZZ_CHECK(second.outcome == access_outcome::allow);
    FUZZ_CHECK(third.outcome == access_outcome::rate_limited && third.retry_after.count() >= 1);
  }
  return 0;
}
