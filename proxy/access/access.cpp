#include "proxy/access/access.hpp"

#include <cassert>

#include <openssl/crypto.h>

#include "config/load.hpp"
#include "proxy/access/signed_url.hpp"
#include "util/codec.hpp"
#include "util/uuid.hpp"

namespace recgate {

access_decision decided(access_outcome outcome, std::string reason) {
  access_decision d;
  d.outcome = outcome;
  d.reason = std::move(reason);
  return d;
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
  requests_.resize(consumers_.size());
  bytes_.resize(consumers_.size());
  // The previous policy's bucket when it has the same limits, else a new one (null: no limit).
  auto carried = [](const std::shared_ptr<token_bucket>* before, double rate, double burst) {
    if (rate <= 0) return std::shared_ptr<token_bucket>();
    if (before && *before && (*before)->rate() == rate && (*before)->burst() == burst) {
      return *before;
    }
    return std::make_shared<token_bucket>(rate, burst);
  };
  for (std::size_t c = 0; c < consumers_.size(); ++c) {
    const auto& consumer = consumers_[c];
    std::size_t old = 0;
    const bool stays = previous && previous->find_consumer(consumer.id, old);
    requests_[c] = carried(stays ? &previous->requests_[old] : nullptr, consumer.rate_per_second,
                           consumer.burst);
    // One second's worth of bytes may go at once.
    bytes_[c] = carried(stays ? &previous->bytes_[old] : nullptr, consumer.bytes_per_second,
                        consumer.bytes_per_second);
  }
}

bool access_policy::take_token(std::size_t consumer, std::chrono::steady_clock::time_point now,
                               std::chrono::seconds& retry_after) {
  const auto& bucket = requests_[consumer];
  std::chrono::nanoseconds wait{0};
  if (!bucket || bucket->try_take(1, now, wait)) return true;
  retry_after = std::chrono::ceil<std::chrono::seconds>(wait);
  return false;
}

const config::consumer_config* access_policy::find_consumer(std::string_view id,
                                                            std::size_t& index) const {
  for (index = 0; index < consumers_.size(); ++index) {
    if (consumers_[index].id == id) return &consumers_[index];
  }
  return nullptr;
}

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

  sha256_digest digest;
  if (request.key_memo != nullptr && request.key_memo->authorization == request.authorization) {
    digest = request.key_memo->digest;
  } else {
    digest = sha256(key);
    if (request.key_memo != nullptr) {
      request.key_memo->authorization.assign(request.authorization);
      request.key_memo->digest = digest;
    }
  }
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
  d.budget = bytes_[index];
  return d;
}

}  // namespace recgate
