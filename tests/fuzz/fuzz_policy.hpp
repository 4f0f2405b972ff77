#pragma once
// The fixed access configuration the auth_header and signed_url targets decide against: the
// keys, accounts and signing key their seeds use.

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/load.hpp"
#include "proxy/access/access.hpp"
#include "util/codec.hpp"

namespace recgate::fuzz {

inline constexpr const char* account_a = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
inline constexpr const char* account_b = "3f0c7a4e-0d6b-4c1e-9a52-6f1d2b8e4c90";
inline constexpr const char* recording_sid = "19e436af-5688-4307-b03b-bdb2b42b8142";
inline constexpr std::int64_t unix_now = 1'700'000'000;

// A consumer's plain key, as a client sends it.
struct known_key {
  const char* consumer;
  const char* key;
};
// player: audio on account A. sdk: audio, metadata and sign on every account from 10.0.0.0/8
// and ::1, 1 request/s with a burst of 2. off: disabled. ops: admin only.
inline const std::vector<known_key>& known_keys() {
  static const std::vector<known_key> keys{{"player", "rgk_player_0123456789abcdefghij"},
                                           {"sdk", "rgk_sdk_0123456789abcdefghijklmn"},
                                           {"sdk", "rgk_sdk_rotated_0123456789abcdef"},
                                           {"off", "rgk_off_0123456789abcdefghijklmn"},
                                           {"ops", "rgk_ops_0123456789abcdefghijklmn"}};
  return keys;
}

inline const char* signing_secret() { return "fuzz-signing-secret-0123456789abcdef"; }

inline config::config policy_config() {
  config::config cfg;
  auto consumer = [&](std::string id, std::vector<std::string> scopes,
                      std::vector<std::string> accounts) -> config::consumer_config& {
    config::consumer_config c;
    c.id = std::move(id);
    c.scopes = std::move(scopes);
    c.accounts = std::move(accounts);
    int n = 0;
    for (const auto& k : known_keys()) {
      if (c.id != k.consumer) continue;
      auto digest = sha256(k.key);
      c.keys.push_back({"k" + std::to_string(n++), to_hex(digest.data(), digest.size())});
    }
    cfg.consumers.push_back(std::move(c));
    return cfg.consumers.back();
  };
  consumer("player", {"audio"}, {account_a});
  auto& sdk = consumer("sdk", {"audio", "metadata", "sign"}, {"*"});
  sdk.networks = {*config::parse_cidr("10.0.0.0/8"), *config::parse_cidr("::1")};
  sdk.rate_per_second = 1;
  sdk.burst = 2;
  consumer("off", {"audio", "metadata", "sign"}, {"*"}).enabled = false;
  consumer("ops", {"admin"}, {});
  cfg.own_consumers = cfg.consumers.size();
  cfg.signing_keys = {{"s1", signing_secret()}, {"s0", "fuzz-old-signing-secret-0123456789ab"}};
  return cfg;
}

}  // namespace recgate::fuzz
