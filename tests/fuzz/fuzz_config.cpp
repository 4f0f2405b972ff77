// Fuzz target: configuration parsing (config/load.hpp: load_from_string), then an access policy
// built from every configuration it accepts.
// Input: the TOML text. The environment is fixed: variables named FUZZ_* hold a 40-byte secret
// (FUZZ_SHORT a short one), every other variable is unset. Files named in the input are read as
// the loader reads them; the seeds name those in tests/fuzz/data/ (the working folder is the
// repository's top). An input naming a device, FIFO or socket, or a file over 1 MiB, is skipped:
// reading /dev/zero forever says nothing about the parser.

#include <chrono>
#include <filesystem>
#include <set>
#include <string>

#include <toml++/toml.h>

#include "config/load.hpp"
#include "fuzz_support.hpp"
#include "proxy/access/access.hpp"
#include "util/uuid.hpp"

namespace {

using namespace recgate;
namespace fs = std::filesystem;

bool unsafe_path(const std::string& text) {
  std::error_code ec;
  auto status = fs::status(text, ec);
  if (ec || status.type() == fs::file_type::not_found ||
      status.type() == fs::file_type::directory) {
    return false;
  }
  if (status.type() != fs::file_type::regular) return true;
  auto size = fs::file_size(text, ec);
  return ec || size > (1u << 20);
}

bool names_unsafe_path(const toml::node& node) {
  if (auto* table = node.as_table()) {
    for (auto&& [key, value] : *table) {
      if (names_unsafe_path(value)) return true;
    }
  } else if (auto* array = node.as_array()) {
    for (const auto& value : *array) {
      if (names_unsafe_path(value)) return true;
    }
  } else if (auto* text = node.as_string()) {
    return unsafe_path(text->get());
  }
  return false;
}

bool lower_hex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

void check_config(const config::config& c) {
  FUZZ_CHECK(!c.consumers.empty() && c.own_consumers <= c.consumers.size());
  std::set<std::string> ids, hashes;
  for (const auto& consumer : c.consumers) {
    FUZZ_CHECK(!consumer.id.empty() && ids.insert(consumer.id).second);
    FUZZ_CHECK(consumer.id.find_first_of(":\r\n\" ") == std::string::npos);
    for (const auto& key : consumer.keys) {
      FUZZ_CHECK(!key.id.empty() && key.sha256.size() == 64 && lower_hex(key.sha256));
      FUZZ_CHECK(hashes.insert(key.sha256).second);
    }
    for (const auto& scope : consumer.scopes) {
      FUZZ_CHECK(scope == "audio" || scope == "metadata" || scope == "sign" || scope == "admin");
    }
    for (const auto& account : consumer.accounts) {
      FUZZ_CHECK(account == "*" || normalize_uuid(account) == account);
    }
    for (const auto& network : consumer.networks) {
      FUZZ_CHECK(network.prefix <= 128 && network.contains(network.address));
    }
    FUZZ_CHECK(consumer.rate_per_second >= 0 && consumer.burst >= 0);
    if (consumer.rate_per_second > 0) FUZZ_CHECK(consumer.burst >= 1);
  }
  std::set<std::string> key_ids;
  for (const auto& key : c.signing_keys) {
    FUZZ_CHECK(!key.id.empty() && key_ids.insert(key.id).second && key.secret.size() >= 32);
  }
  FUZZ_CHECK(c.upstream.url.scheme == "http" || c.upstream.url.scheme == "https");
  FUZZ_CHECK(!c.upstream.url.host.empty() && c.upstream.url.port != 0);
  FUZZ_CHECK(config::parse_base_url(c.upstream.url.to_string()).has_value());
  FUZZ_CHECK(!c.upstream.project_id.empty() &&
             c.upstream.project_id.find_first_of(":\r\n") == std::string::npos);
  FUZZ_CHECK(c.upstream.api_token.find_first_of("\r\n") == std::string::npos);
  FUZZ_CHECK(c.upstream.connect_timeout.count() > 0 && c.upstream.header_timeout.count() > 0 &&
             c.upstream.idle_timeout.count() > 0);
  FUZZ_CHECK(c.server.threads >= 1 && c.server.header_timeout.count() > 0 &&
             c.server.idle_timeout.count() > 0 && c.server.write_timeout.count() > 0);
  FUZZ_CHECK(c.cache.cache_control.find_first_of("\r\n") == std::string::npos);
  FUZZ_CHECK(c.log.format == "text" || c.log.format == "json");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = fuzz::as_text(data, size);
  try {
    if (names_unsafe_path(toml::parse(text, std::string_view("fuzz.toml"))))
      return -1;  // not added to the corpus
  } catch (const toml::parse_error&) {
    // The loader reports it; no file is read.
  }

  config::env_lookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "FUZZ_SHORT") return "short";
    if (name.starts_with("FUZZ_")) return "fuzz-secret-from-env-0123456789abcdefghij";
    return std::nullopt;
  };
  auto result = config::load_from_string(text, "fuzz.toml", env);
  if (!result.ok()) {
    FUZZ_CHECK(!result.error().empty());  // a refusal says why
    for (const auto& error : result.error()) FUZZ_CHECK(!error.to_string().empty());
    return 0;
  }
  check_config(*result);

  // What access control was promised: a validated configuration.
  access_policy policy(*result);
  access_request request;
  request.authorization = "Bearer not-a-configured-key";
  request.account_sid = "720796a0-8ee9-4350-83bd-2d07a3121f1e";
  request.client_address = "127.0.0.1";
  auto decision = policy.decide(request, std::chrono::steady_clock::time_point{});
  FUZZ_CHECK(decision.outcome == access_outcome::unauthenticated);
  return 0;
}
