#include "proxy/access/access.hpp"

#include <cassert>
#include <cmath>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config/load.hpp"
#include "proxy/access/signed_url.hpp"
#include "util/codec.hpp"
#include "util/uuid.hpp"

namespace recgate {

namespace {

// The credentials after "SCHEME " (scheme case-insensitive), trimmed; nullopt otherwise.
std::optional<std::string_view> after_scheme(std::string_view authorization,
                                             std::string_view scheme) {
  if (authorization.size() <= scheme.size() + 1 ||
      !iequals(authorization.substr(0, scheme.size()), scheme) ||
      authorization[scheme.size()] != ' ') {
    return std::nullopt;
  }
  auto rest = authorization.substr(scheme.size() + 1);
  while (rest.starts_with(' ')) rest.remove_prefix(1);
  while (rest.ends_with(' ')) rest.remove_suffix(1);
  if (rest.empty() || rest.find(' ') != std::string_view::npos) return std::nullopt;
  return rest;
}

access_decision decided(access_outcome outcome, std::string reason) {
  access_decision d;
  d.outcome = outcome;
  d.reason = std::move(reason);
  return d;
}

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  return after_scheme(authorization, "bearer");
}

std::optional<basic_credentials> basic_auth(std::string_view authorization) {
  auto encoded = after_scheme(authorization, "basic");
  if (!encoded || encoded->size() % 4 != 0 || encoded->size() > 4096) return std::nullopt;
  auto decoded = base64_decode(*encoded);
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return basic_credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

access_policy::access_policy(const config::config& cfg,
                             std::shared_ptr<const revocation_list> revocations,
                             access_policy* previous)
    : consumers_(cfg.consumers),
      signing_keys_(cfg.signing_keys),
      revocations_(std::move(revocations)),
      public_audio_(cfg.access.public_audio) {
  if (cfg.access.signed_cookies) cookie_prefix_ = "rg_";
  for (std::size_t c = 0; c < consumers_.size(); ++c) {
    for (const auto& key : consumers_[c].keys) {
      assert(key.sha256.size() == 64);  // validated: 64 hex characters
      key_entry e{{}, c, key.id};
      for (std::size_t i = 0; i < e.digest.size() && 2 * i + 1 < key.sha256.size(); ++i) {
        e.digest[i] = static_cast<unsigned char>(hex_value(key.sha256[2 * i]) * 16 +
                                                 hex_value(key.sha256[2 * i + 1]));
      }
      keys_.push_back(std::move(e));
    }
    for (const auto& id : consumers_[c].certificates) by_certificate_.emplace(id, c);
  }
  buckets_.resize(consumers_.size());
  budgets_.resize(consumers_.size());
  for (std::size_t c = 0; c < consumers_.size(); ++c) {
    const auto& consumer = consumers_[c];
    std::size_t old = 0;
    const auto* before = previous ? previous->find_consumer(consumer.id, old) : nullptr;
    if (before && before->rate_per_second == consumer.rate_per_second &&
        before->burst == consumer.burst) {
      std::lock_guard lock(previous->mutex_);
      buckets_[c] = previous->buckets_[old];
    }
    if (consumer.bytes_per_second > 0) {
      if (before && previous->budgets_[old] &&
          previous->budgets_[old]->rate() == consumer.bytes_per_second) {
        budgets_[c] = previous->budgets_[old];
      } else {
        budgets_[c] = std::make_shared<byte_budget>(consumer.bytes_per_second);
      }
    }
  }
}

std::chrono::nanoseconds byte_budget::take(std::size_t n,
                                           std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (last_ != std::chrono::steady_clock::time_point{}) {
    tokens_ = std::min(rate_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
  }
  last_ = now;
  tokens_ -= static_cast<double>(n);
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(-tokens_ / rate_ * 1e9));
}

std::string grant_cookie_name(std::string_view sid) {
  std::string name = "rg_";
  for (char c : sid) {
    if (c != '-') name += c;
  }
  return name;
}

bool access_policy::take_token(std::size_t consumer, std::chrono::steady_clock::time_point now,
                               std::chrono::seconds& retry_after) {
  const auto& c = consumers_[consumer];
  if (c.rate_per_second <= 0) return true;
  std::lock_guard lock(mutex_);
  auto& b = buckets_[consumer];
  if (!b.started) {
    b = {c.burst, now, true};
  } else {
    double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(c.burst, b.tokens + elapsed * c.rate_per_second);
    b.last = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  retry_after =
      std::chrono::seconds(static_cast<long>(std::ceil((1 - b.tokens) / c.rate_per_second)));
  return false;
}

const config::consumer_config* access_policy::find_consumer(std::string_view id,
                                                            std::size_t& index) const {
  for (index = 0; index < consumers_.size(); ++index) {
    if (consumers_[index].id == id) return &consumers_[index];
  }
  return nullptr;
}

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
  if (!grant.format.empty() && grant.format != request.format) {
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
    d.budget = budgets_[index];
    if (!cookie_prefix_.empty()) {
      d.grant_query = signed_query(grant, key->secret);
      d.grant_expires = grant.expires;
    }
  }
  return d;
}

namespace {

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or empty.
std::string_view cookie_value(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    auto pair = cookies.substr(0, end);
    while (pair.starts_with(' ')) pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace

access_decision access_policy::decide(const access_request& request,
                                      std::chrono::steady_clock::time_point now) {
  if (request.authorization.empty() && request.scope.empty() && has_signature(request.query)) {
    return decide_signed(request, now);
  }
  if (request.authorization.empty()) {
    if (request.certificate != nullptr) {
      for (const auto& id : *request.certificate) {
        if (auto it = by_certificate_.find(id); it != by_certificate_.end()) {
          return authorize(it->second, "cert:" + id, request, now);
        }
      }
    }
    if (!cookie_prefix_.empty() && request.scope.empty() && !request.cookies.empty()) {
      auto grant = cookie_value(request.cookies, grant_cookie_name(request.sid));
      if (!grant.empty()) {
        auto d = decide_signed_query(request, grant, now);
        if (d.outcome == access_outcome::allow) d.reason = "signed cookie";
        d.grant_query.clear();  // already kept: no new Set-Cookie
        return d;
      }
    }
    if (public_audio_ && !request.metadata && request.scope.empty()) {
      return decided(access_outcome::allow, "public audio");
    }
    return decided(access_outcome::unauthenticated, "no credential");
  }
  std::string_view key;
  std::optional<basic_credentials> basic;
  if (auto bearer = bearer_token(request.authorization)) {
    key = *bearer;
  } else if ((basic = basic_auth(request.authorization))) {
    key = basic->password;
  } else {
    return decided(access_outcome::unauthenticated, "malformed credential");
  }

  auto digest = sha256(key);
  const key_entry* match = nullptr;
  // Every key is compared, without stopping early: timing says nothing about which matched.
  for (const auto& e : keys_) {
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) match = &e;
  }
  if (match == nullptr) return decided(access_outcome::unauthenticated, "unknown key");
  const auto& consumer = consumers_[match->consumer];

  if (basic) {
    // The username is the consumer's id, or (as SignalWire's SDKs send it) the AccountSid that
    // is also in the path.
    auto as_account = normalize_uuid(basic->user);
    bool fits = basic->user == consumer.id || (as_account && *as_account == request.account_sid);
    if (!fits) return decided(access_outcome::unauthenticated, "basic username does not fit");
  }

  return authorize(match->consumer, match->id, request, now);
}

access_decision access_policy::authorize(std::size_t index, std::string key_id,
                                         const access_request& request,
                                         std::chrono::steady_clock::time_point now) {
  const auto& consumer = consumers_[index];
  access_decision d;
  d.consumer = consumer.id;
  d.key_id = std::move(key_id);
  d.outcome = access_outcome::forbidden;
  if (!consumer.enabled) {
    d.reason = "consumer disabled";
    return d;
  }
  if (!consumer.networks.empty()) {
    auto ip = config::parse_ip(request.client_address);
    bool inside = false;
    for (const auto& n : consumer.networks) inside = inside || (ip && n.contains(*ip));
    if (!inside) {
      d.reason = "client network not allowed";
      return d;
    }
  }
  std::string_view scope = !request.scope.empty() ? request.scope
                           : request.metadata     ? std::string_view(config::scope_metadata)
                                                  : std::string_view(config::scope_audio);
  if (!consumer.has_scope(scope)) {
    d.reason = "no " + std::string(scope) + " scope";
    return d;
  }
  if (scope != config::scope_admin && !consumer.may_read(request.account_sid)) {
    d.reason = "account not allowed";
    return d;
  }
  if (!take_token(index, now, d.retry_after)) {
    d.outcome = access_outcome::rate_limited;
    d.reason = "rate limit";
    return d;
  }
  d.outcome = access_outcome::allow;
  d.reason = "allowed";
  d.budget = budgets_[index];
  return d;
}

}  // namespace recgate
