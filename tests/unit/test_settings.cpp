// proxy/settings: what a reload applies and what waits for a restart, checked against the
// README's configuration table ("on reload" column), row by row.
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <doctest/doctest.h>

#include "proxy/state/settings.hpp"

using recgate::live_settings;
using recgate::needing_restart;
using recgate::restart_settings;
namespace config = recgate::config;

namespace {

// A config with every section in use, so that each change below is a real one.
config::config base() {
  config::config c;
  c.upstream.url = {"https", "space.signalwire.com", 443};
  c.upstream.project_id = "project";
  c.upstream.api_token = "token";
  c.upstream.api_token_source = "env SIGNALWIRE_API_TOKEN";
  c.projects.push_back({"support",
                        {"https", "support.signalwire.com", 443},
                        "720796a0-8ee9-4350-83bd-2d07a3121f1e",
                        "token",
                        "env T",
                        ""});
  c.tls.cert_file = "cert.pem";
  c.tls.key_file = "key.pem";
  c.cache.path = "/var/cache/recgate";
  c.callbacks.path = "/callbacks/recording-status";
  c.callbacks.signing_key = "callback-key";
  c.audit.file = "/var/log/recgate/audit.jsonl";
  config::consumer_config billing;
  billing.id = "billing";
  billing.keys = {{"default", std::string(64, 'a')}};
  billing.scopes = {"audio"};
  billing.accounts = {"*"};
  c.consumers.push_back(billing);
  c.signing_keys.push_back({"s1", std::string(32, 's')});
  return c;
}

using change = std::function<void(config::config&)>;

// One change per row of the README's table, keyed by the row's first cell.
const std::map<std::string, change>& changes() {
  static const std::map<std::string, change> all = {
      {"`server.listen`", [](config::config& c) { c.server.listen.port = 8081; }},
      {"`server.threads`", [](config::config& c) { c.server.threads = 3; }},
      {"`server.max_header_bytes`", [](config::config& c) { c.server.max_header_bytes = 4096; }},
      {"`server.header_timeout`", [](config::config& c) { c.server.header_timeout *= 2; }},
      {"`server.idle_timeout`", [](config::config& c) { c.server.idle_timeout *= 2; }},
      {"`server.write_timeout`", [](config::config& c) { c.server.write_timeout *= 2; }},
      {"`server.plain`", [](config::config& c) { c.server.plain = false; }},
      {"`server.max_connections`", [](config::config& c) { c.server.max_connections = 5; }},
      {"`server.max_requests_per_connection`",
       [](config::config& c) { c.server.max_requests_per_connection = 5; }},
      {"`server.drain_timeout`", [](config::config& c) { c.server.drain_timeout *= 2; }},
      {"`tls.listen`", [](config::config& c) { c.tls.listen.port = 9443; }},
      {"`tls.cert_file`, `tls.key_file`", [](config::config& c) { c.tls.cert_file = "new.pem"; }},
      {"`tls.client_ca_file`", [](config::config& c) { c.tls.client_ca_file = "ca.pem"; }},
      {"`tls.require_client_certificate`",
       [](config::config& c) { c.tls.require_client_certificate = true; }},
      {"`upstream.base_url`", [](config::config& c) { c.upstream.url.host = "other.example"; }},
      {"`upstream.project_id`", [](config::config& c) { c.upstream.project_id = "other"; }},
      {"`upstream.api_token_env`", [](config::config& c) {
         c.upstream.api_token = "rotated";
         c.upstream.api_token_source = "env OTHER_TOKEN";
       }},
      {"`upstream.api_token_file`", [](config::config& c) {
         c.upstream.api_token = "rotated";
         c.upstream.api_token_source = "file /run/secrets/token";
       }},
      {"`[[projects]]` `id`", [](config::config& c) { c.projects[0].id = "other"; }},
      {"`[[projects]]` `space_url`",
       [](config::config& c) { c.projects[0].url.host = "other.signalwire.com"; }},
      {"`[[projects]]` `project_id`",
       [](config::config& c) { c.projects[0].project_id = "2b0e1d5c-3f4a-4b6c-8d7e-9f0a1b2c3d4e"; }},
      {"`[[projects]]` `api_token_env` / `api_token_file`",
       [](config::config& c) { c.projects[0].api_token = "rotated"; }},
      {"`[[projects]]` `callback_signing_key_env` / `callback_signing_key_file`",
       [](config::config& c) { c.projects[0].callback_signing_key = "rotated"; }},
      {"`upstream.ca_file`", [](config::config& c) { c.upstream.ca_file = "ca.pem"; }},
      {"`upstream.verify_tls`", [](config::config& c) { c.upstream.verify_tls = false; }},
      {"`upstream.connect_timeout`", [](config::config& c) { c.upstream.connect_timeout *= 2; }},
      {"`upstream.header_timeout`", [](config::config& c) { c.upstream.header_timeout *= 2; }},
      {"`upstream.idle_timeout`", [](config::config& c) { c.upstream.idle_timeout *= 2; }},
      {"`upstream.min_body_rate`", [](config::config& c) { c.upstream.min_body_rate = 1; }},
      {"`upstream.body_rate_window`", [](config::config& c) { c.upstream.body_rate_window *= 2; }},
      {"`upstream.body_timeout`", [](config::config& c) { c.upstream.body_timeout *= 2; }},
      {"`upstream.max_redirects`", [](config::config& c) { c.upstream.max_redirects = 1; }},
      {"`upstream.buffer_bytes`", [](config::config& c) { c.upstream.buffer_bytes = 4096; }},
      {"`upstream.pool_size`", [](config::config& c) { c.upstream.pool_size = 1; }},
      {"`upstream.retries`", [](config::config& c) { c.upstream.retries = 0; }},
      {"`upstream.retry_backoff`, `retry_backoff_max`",
       [](config::config& c) { c.upstream.retry_backoff_max *= 2; }},
      {"`upstream.breaker_failures`", [](config::config& c) { c.upstream.breaker_failures = 1; }},
      {"`upstream.breaker_cooldown`", [](config::config& c) { c.upstream.breaker_cooldown *= 2; }},
      {"`upstream.egress_proxy`",
       [](config::config& c) { c.upstream.egress_proxy = "http://127.0.0.1:3128"; }},
      {"`cache.path`", [](config::config& c) { c.cache.path = "/srv/cache"; }},
      {"`cache.max_bytes`", [](config::config& c) { c.cache.max_bytes = 1 << 30; }},
      {"`cache.min_free_bytes`", [](config::config& c) { c.cache.min_free_bytes = 1 << 30; }},
      {"`cache.max_age`", [](config::config& c) { c.cache.max_age = std::chrono::hours(24); }},
      {"`cache.negative_ttl`", [](config::config& c) { c.cache.negative_ttl *= 2; }},
      {"`cache.metadata_ttl`",
       [](config::config& c) { c.cache.metadata_ttl = std::chrono::seconds(5); }},
      {"`cache.stale_if_error`",
       [](config::config& c) { c.cache.stale_if_error = std::chrono::seconds(5); }},
      {"`cache.revalidate_after`",
       [](config::config& c) { c.cache.revalidate_after = std::chrono::hours(1); }},
      {"`cache.revalidate`", [](config::config& c) { c.cache.revalidate_before_serving = true; }},
      {"`cache.chunk_size`", [](config::config& c) { c.cache.chunk_size = 65536; }},
      {"`cache.block_cache_bytes`", [](config::config& c) { c.cache.block_cache_bytes = 1 << 20; }},
      {"`cache.cache_control`", [](config::config& c) { c.cache.cache_control = "no-store"; }},
      {"`cache.encryption_key_file`", [](config::config& c) {
         c.cache.encryption_keys.push_back({"k1", std::string(32, 'k')});
         c.cache.encryption_key_source = "file /etc/recgate/keys";
       }},
      {"`cache.encryption_key_env`", [](config::config& c) {
         c.cache.encryption_keys.push_back({"k1", std::string(32, 'k')});
         c.cache.encryption_key_source = "env RECGATE_KEYS";
       }},
      {"`admin.listen`", [](config::config& c) { c.admin.listen.port = 9091; }},
      {"`admin.enabled`", [](config::config& c) { c.admin.enabled = false; }},
      {"`admin.require_key`", [](config::config& c) { c.admin.require_key = true; }},
      {"`admin.exempt_paths`", [](config::config& c) { c.admin.exempt_paths.push_back("/metrics"); }},
      {"`log.level`", [](config::config& c) { c.log.level = "debug"; }},
      {"`log.format`", [](config::config& c) { c.log.format = "json"; }},
      {"`callbacks.path`", [](config::config& c) { c.callbacks.path = "/callbacks/other"; }},
      {"`callbacks.signing_key_env` / `signing_key_file`",
       [](config::config& c) { c.callbacks.signing_key = "rotated"; }},
      {"`callbacks.prefetch_formats`",
       [](config::config& c) { c.callbacks.prefetch_formats.push_back("mp3"); }},
      {"`callbacks.concurrency`", [](config::config& c) { c.callbacks.concurrency = 4; }},
      {"`callbacks.queue_limit`", [](config::config& c) { c.callbacks.queue_limit = 10; }},
      {"`callbacks.forward_url`",
       [](config::config& c) { c.callbacks.forward_url = "http://127.0.0.1:9/hook"; }},
      {"`callbacks.forward_timeout`", [](config::config& c) { c.callbacks.forward_timeout *= 2; }},
      {"`callbacks.public_url`",
       [](config::config& c) { c.callbacks.public_url = "https://gw.example.com"; }},
      {"`audit.file`", [](config::config& c) { c.audit.file = "/tmp/audit.jsonl"; }},
      {"`audit.flush_interval`", [](config::config& c) { c.audit.flush_interval *= 2; }},
      {"`[[consumers]]` `id`", [](config::config& c) { c.consumers[0].id = "other"; }},
      {"`[[consumers]]` `key_sha256`",
       [](config::config& c) { c.consumers[0].keys[0].sha256 = std::string(64, 'b'); }},
      {"`[[consumers.keys]]` `id`, `sha256`",
       [](config::config& c) { c.consumers[0].keys.push_back({"next", std::string(64, 'c')}); }},
      {"`[[consumers]]` `scopes`", [](config::config& c) { c.consumers[0].scopes.push_back("sign"); }},
      {"`[[consumers]]` `accounts`", [](config::config& c) { c.consumers[0].accounts = {"ac"}; }},
      {"`[[consumers]]` `networks`",
       [](config::config& c) {
         config::cidr net;
         net.prefix = 104;
         net.text = "10.0.0.0/8";
         c.consumers[0].networks.push_back(net);
       }},
      {"`[[consumers]]` `rate_per_second`, `burst`",
       [](config::config& c) { c.consumers[0].rate_per_second = 5; }},
      {"`[[consumers]]` `bytes_per_second`",
       [](config::config& c) { c.consumers[0].bytes_per_second = 5; }},
      {"`[[consumers]]` `certificates`",
       [](config::config& c) { c.consumers[0].certificates.push_back("CN=billing"); }},
      {"`[[consumers]]` `enabled`", [](config::config& c) { c.consumers[0].enabled = false; }},
      {"`access.public_audio`", [](config::config& c) { c.access.public_audio = true; }},
      {"`access.revocations_file`",
       [](config::config& c) { c.access.revocations_file = "/var/lib/recgate/revoked"; }},
      {"`access.signed_cookies`", [](config::config& c) { c.access.signed_cookies = true; }},
      {"`access.consumers_file`",
       [](config::config& c) { c.access.consumers_file = "/etc/recgate/consumers.toml"; }},
      {"`[[signing_keys]]` `id`", [](config::config& c) { c.signing_keys[0].id = "s2"; }},
      {"`[[signing_keys]]` `secret_env` / `secret_file`",
       [](config::config& c) { c.signing_keys[0].secret = std::string(32, 't'); }},
  };
  return all;
}

// The configuration table's rows: first cell -> "on reload" cell.
std::map<std::string, std::string> readme_rows() {
  std::ifstream in(std::string(RECGATE_SOURCE_DIR) + "/README.md");
  std::map<std::string, std::string> rows;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "| key | default | on reload | meaning |") {
      inside = true;
      continue;
    }
    if (!inside || line.rfind("|---", 0) == 0) continue;
    if (line.rfind("| ", 0) != 0) break;
    std::vector<std::string> cells;
    std::size_t at = 2;
    for (std::size_t bar; (bar = line.find(" | ", at)) != std::string::npos; at = bar + 3) {
      cells.push_back(line.substr(at, bar - at));
    }
    if (cells.size() >= 3) rows[cells[0]] = cells[2];
  }
  return rows;
}

}  // namespace

TEST_CASE("the README's \"on reload\" column says what a reload does with each setting") {
  auto rows = readme_rows();
  REQUIRE(rows.size() >= 70);
  const auto before = base();
  for (const auto& [key, says] : rows) {
    CAPTURE(key);
    CAPTURE(says);
    auto found = changes().find(key);
    REQUIRE_MESSAGE(found != changes().end(), "a README row without a change in this test");
    auto after = before;
    found->second(after);
    auto restart = needing_restart(restart_settings::of(before), restart_settings::of(after));
    bool waits = !restart.empty();
    // "live", "restart", or "live (the file watched: restart)": partly waiting.
    CHECK((says.find("restart") != std::string::npos) == waits);
    CHECK((says.rfind("live", 0) == 0 || says == "restart"));
  }
  for (const auto& entry : changes()) {
    CAPTURE(entry.first);
    CHECK(rows.count(entry.first) == 1);  // every change tested is a row of the table
  }
}

TEST_CASE("live settings come from the new config; restart settings name what differs") {
  auto a = base();
  auto b = a;
  b.server.write_timeout = std::chrono::seconds(7);
  b.cache.cache_control = "no-store";
  b.admin.require_key = true;
  auto live = live_settings::of(b);
  CHECK(live.server.write_timeout == std::chrono::seconds(7));
  CHECK(live.cache_control == "no-store");
  CHECK(live.admin.require_key);
  CHECK(needing_restart(restart_settings::of(a), restart_settings::of(b)).empty());

  b.server.listen.port = 1;
  b.upstream.retries = 9;
  b.cache.chunk_size = 1024;
  auto named = needing_restart(restart_settings::of(a), restart_settings::of(b));
  CHECK(named == std::vector<std::string>{"server.listen", "upstream.retries", "cache.chunk_size"});
}

TEST_CASE("restart settings hold no secret that a reload changes") {
  auto r = restart_settings::of(base());
  CHECK(r.upstream.api_token.empty());
  CHECK(r.upstream.api_token_source.empty());
  CHECK(r.cache.cache_control.empty());  // live: read from live_settings only
}
