// recgate's command line: serve, check-config, keygen (consumer keys and encryption keys), sign,
// cache stats|purge, audit.
//
// Exit codes: 0 success; 1 the configuration is invalid or the server could not start;
// 2 (or CLI11's own codes, above 100) a command-line usage error.
//
// The request path, in the order a request takes it: server.cpp (listener, threads) →
// session.cpp (HTTP/1.1, limits) → router.cpp (path → recording_request) → access.cpp (who is
// asking) → recording_handler.cpp (response) → upstream_client.cpp (SignalWire).
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config/encryption_keys.hpp"
#include "config/load.hpp"
#include "proxy/access/access.hpp"
#include "proxy/access/signing.hpp"
#include "proxy/app/admin_client.hpp"
#include "proxy/app/server.hpp"
#include "proxy/telemetry/audit_query.hpp"
#include "proxy/telemetry/logging.hpp"
#include "util/build_info.hpp"
#include "util/clock.hpp"
#include "util/codec.hpp"
#include "util/uuid.hpp"

// jemalloc's start-up options (read only when recgate links it, which it does outside sanitizer
// builds): freed pages go back to the system within about a second, by a background thread,
// instead of the default ten; after a burst (a flood of connections, many fills at once) the
// resident size returns to its working set rather than staying at the peak.
extern "C" {
// NOLINTNEXTLINE: jemalloc looks this symbol up by name
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}

namespace {

std::optional<recgate::config::config> load_or_report(const std::string& path) {
  auto loaded = recgate::config::load_from_file(path, recgate::config::process_env());
  if (!loaded.ok()) {
    std::cerr << "recgate: invalid configuration " << path << ":\n";
    for (const auto& e : loaded.error()) std::cerr << "  - " << e.to_string() << "\n";
    return std::nullopt;
  }
  return std::move(*loaded);
}

int keygen(const std::string& consumer) {
  unsigned char bytes[32];  // 256 bits
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    std::cerr << "recgate: no randomness available\n";
    return 1;
  }
  std::string key = "rgk_" + recgate::base64url(bytes, sizeof bytes);
  auto digest = recgate::sha256(key);
  std::cout << "key (shown once; give it to " << consumer << "): " << key << "\n"
            << "config (narrow scopes and accounts to what it needs):\n"
            << "[[consumers]]\nid = \"" << consumer << "\"\n"
            << "scopes = [\"audio\", \"metadata\"]\naccounts = [\"*\"]\n"
            << "key_sha256 = \"" << recgate::to_hex(digest.data(), digest.size()) << "\"\n";
  return 0;
}

// keygen --encryption-key ID: a line for cache.encryption_key_file (put it first to make it the
// key new objects are sealed under; keep the older lines while objects sealed under them remain).
int encryption_keygen(const std::string& id) {
  if (!recgate::config::valid_encryption_key_id(id)) {
    std::cerr << "recgate: --encryption-key: the key id must be 1 to 32 of A-Z a-z 0-9 . _ -\n";
    return 2;
  }
  unsigned char bytes[32];  // AES-256
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    std::cerr << "recgate: no randomness available\n";
    return 1;
  }
  // Standard base64 (the key file takes the URL-safe form too).
  std::cout << id << ":" << recgate::base64(bytes, sizeof bytes) << "\n";
  OPENSSL_cleanse(bytes, sizeof bytes);
  return 0;
}

// cache stats / cache purge: through the running gateway's admin listener (the store is the
// server's while it runs; RocksDB allows one process at a time).
int cache_command(const std::string& admin, const std::string& config_path, bool purge,
                  const std::string& account, const std::string& sid) {
  auto at = recgate::config::parse_endpoint(admin);
  if (!config_path.empty()) {
    auto cfg = load_or_report(config_path);
    if (!cfg) return 1;
    at = cfg->admin.listen;
  }
  if (!at) {
    std::cerr << "recgate: --admin must be host:port\n";
    return 2;
  }
  std::string target = "/cache/stats";
  if (purge) {
    auto a = recgate::normalize_uuid(account);
    auto s = recgate::normalize_uuid(sid);
    if (!a || !s) {
      std::cerr << "recgate: --account and --sid must be UUIDs\n";
      return 2;
    }
    target = "/cache/recordings/" + *a + "/" + *s;
  }
  // The admin key, when the listener requires one, comes from the environment: never argv.
  const char* key = std::getenv("RECGATE_ADMIN_KEY");
  auto reply = recgate::admin_request(*at, purge ? "DELETE" : "GET", target, key ? key : "");
  if (reply.status == 0) {
    std::cerr << "recgate: " << reply.error << "\n";
    return 1;
  }
  auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (reply.status != 200 || body.is_discarded()) {
    std::cerr << "recgate: the gateway answered " << reply.status << ": " << reply.body << "\n";
    return 1;
  }
  for (auto& [name, value] : body.items()) std::cout << name << " " << value.dump() << "\n";
  return 0;
}

// recgate sign: a signed URL for one recording, as the named consumer issues it.
int sign_command(const std::string& config_path, const std::string& consumer,
                 const std::string& path, const std::string& ttl, const std::string& client,
                 bool bind_format) {
  auto cfg = load_or_report(config_path);
  if (!cfg) return 1;
  auto lifetime = recgate::config::parse_duration(ttl);
  if (!lifetime) {
    std::cerr << "recgate: --ttl must be a duration such as 10m\n";
    return 2;
  }
  auto now = recgate::unix_now();
  auto minted = recgate::mint_signed_url(cfg->consumers, cfg->signing_keys,
                                         {consumer, path, *lifetime, client, bind_format}, now);
  if (!minted.ok()) {
    std::cerr << "recgate: " << minted.error().message << "\n";
    return minted.error().status == 400 ? 2 : 1;
  }
  std::cout << minted->url << "\n";
  return 0;
}

// recgate audit: the audit lines about a recording and/or a consumer, in a time window; the
// count and bytes on stderr, so stdout stays JSON lines.
int audit_command(const std::string& config_path, std::vector<std::string> files,
                  const std::string& sid, const std::string& consumer, const std::string& since,
                  const std::string& until) {
  if (!config_path.empty()) {
    auto cfg = load_or_report(config_path);
    if (!cfg) return 1;
    if (cfg->audit.file.empty()) {
      std::cerr << "recgate: " << config_path << " has no [audit] file\n";
      return 1;
    }
    files.push_back(cfg->audit.file);
  }
  if (files.empty()) {
    std::cerr << "recgate: give --config or --file\n";
    return 2;
  }
  recgate::audit_filter filter;
  filter.consumer = consumer;
  if (!sid.empty()) {
    auto normal = recgate::normalize_uuid(sid);
    if (!normal) {
      std::cerr << "recgate: --sid must be a recording Sid (UUID)\n";
      return 2;
    }
    filter.sid = *normal;
  }
  for (auto [flag, text, out] : {std::tuple{"--since", &since, &filter.since_ms},
                                 std::tuple{"--until", &until, &filter.until_ms}}) {
    if (text->empty()) continue;
    *out = recgate::parse_rfc3339(*text);
    if (!*out) {
      std::cerr << "recgate: " << flag
                << " must be an RFC 3339 time such as 2024-05-06T00:00:00Z\n";
      return 2;
    }
  }
  recgate::audit_summary summary;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "recgate: cannot read " << file << "\n";
      return 1;
    }
    recgate::query_audit(in, filter, std::cout, summary);
  }
  std::cout.flush();
  std::cerr << "recgate audit: " << summary.lines << " accesses, " << summary.bytes << " bytes"
            << (summary.malformed
                    ? ", " + std::to_string(summary.malformed) + " malformed lines skipped"
                    : "")
            << "\n";
  return 0;
}

// check-config: what the configuration resolves to, without secrets.
int check_config(const recgate::config::config& cfg) {
  std::cout << "recgate: configuration OK\n"
            << "  listen      " << cfg.server.listen.to_string() << " (" << cfg.server.threads
            << " threads)\n"
            << "  projects    " << cfg.projects.size() << "\n";
  for (const auto& p : cfg.projects) {
    std::cout << "    " << p.id << ": " << p.url.to_string() << ", project id " << p.project_id
              << ", api token from " << p.api_token_source
              << (p.callback_signing_key.empty() ? "" : ", its own callback key") << "\n";
  }
  std::cout << "  consumers   " << cfg.consumers.size() << "\n";
  if (cfg.callbacks.enabled()) {
    std::cout << "  callbacks   " << cfg.callbacks.path << " (signing key from "
              << cfg.callbacks.signing_key_source << ")\n";
  }
  if (cfg.audit.enabled()) std::cout << "  audit       " << cfg.audit.file << "\n";
  if (cfg.cache.encrypted()) {
    std::cout << "  encryption  key " << cfg.cache.encryption_keys.front().id << " from "
              << cfg.cache.encryption_key_source << " (" << cfg.cache.encryption_keys.size() - 1
              << " older keys readable)\n";
    auto warning = recgate::config::key_file_permission_warning(cfg.cache.encryption_key_file);
    if (!warning.empty()) std::cerr << "recgate: warning: " << warning << "\n";
  }
  return 0;
}

// Every subcommand's options; CLI11 writes into them while it parses.
struct command_line {
  std::string config_path;
  CLI::App* serve = nullptr;
  CLI::App* check = nullptr;

  CLI::App* keygen = nullptr;
  std::string consumer, encryption_key_id;

  CLI::App* cache = nullptr;
  CLI::App* purge = nullptr;
  std::string admin = "127.0.0.1:9090", account, sid;

  CLI::App* sign = nullptr;
  std::string sign_path, ttl = "10m", client;
  bool bind_format = false;

  CLI::App* audit = nullptr;
  std::vector<std::string> audit_files;
  std::string audit_sid, audit_consumer, since, until;
};

void add_serve_and_check(CLI::App& app, command_line& o) {
  o.serve = app.add_subcommand("serve", "Run the gateway");
  o.serve->add_option("--config,-c", o.config_path, "TOML configuration file")->required();
  o.check = app.add_subcommand("check-config", "Validate a configuration and exit");
  o.check->add_option("--config,-c", o.config_path, "TOML configuration file")->required();
}

void add_keygen(CLI::App& app, command_line& o) {
  o.keygen = app.add_subcommand("keygen", "Print a new consumer key and its config entry");
  auto* consumer = o.keygen->add_option("--consumer", o.consumer, "Consumer id");
  auto* encryption = o.keygen->add_option(
      "--encryption-key", o.encryption_key_id,
      "Instead: a new cache encryption key line, ID:base64, for cache.encryption_key_file");
  consumer->excludes(encryption);
  o.keygen->require_option(1);
}

void add_cache(CLI::App& app, command_line& o) {
  o.cache = app.add_subcommand("cache", "Cache statistics and purge, through the admin listener");
  o.cache->require_subcommand(1);
  auto* stats = o.cache->add_subcommand("stats", "Print objects, bytes and hit counters");
  o.purge = o.cache->add_subcommand("purge", "Remove every cached format of one recording");
  for (auto* sub : {stats, o.purge}) {
    sub->add_option("--config,-c", o.config_path, "TOML configuration (for admin.listen)");
    sub->add_option("--admin", o.admin, "The admin listener, when no config is given");
  }
  o.purge->add_option("--account", o.account, "AccountSid")->required();
  o.purge->add_option("--sid", o.sid, "Recording Sid")->required();
}

void add_sign(CLI::App& app, command_line& o) {
  o.sign = app.add_subcommand("sign", "Print a signed, expiring URL for one recording");
  o.sign->add_option("--config,-c", o.config_path, "TOML configuration file")->required();
  o.sign->add_option("--consumer", o.consumer, "The issuing consumer (needs the sign scope)")
      ->required();
  o.sign->add_option("--path", o.sign_path, "The recording's path, e.g. /api/laml/.../{Sid}.mp3")
      ->required();
  o.sign->add_option("--ttl", o.ttl, "How long it is valid (default 10m)");
  o.sign->add_option("--client", o.client, "Bind it to this client IP address");
  o.sign->add_flag("--bind-format", o.bind_format, "Valid only for the path's format");
}

void add_audit(CLI::App& app, command_line& o) {
  o.audit =
      app.add_subcommand("audit", "Print the audit trail's lines for a recording or a consumer");
  auto* config =
      o.audit->add_option("--config,-c", o.config_path, "TOML configuration (for audit.file)");
  auto* file =
      o.audit->add_option("--file,-f", o.audit_files, "An audit file (repeat for rotated ones)");
  config->excludes(file);
  o.audit->add_option("--sid", o.audit_sid, "Recording Sid");
  o.audit->add_option("--consumer", o.audit_consumer, "Consumer id");
  o.audit->add_option("--since", o.since, "From this time on (RFC 3339, inclusive)");
  o.audit->add_option("--until", o.until, "Before this time (RFC 3339, exclusive)");
}

// The parsed command, run.
int run(const command_line& o) {
  if (*o.audit) {
    return audit_command(o.config_path, o.audit_files, o.audit_sid, o.audit_consumer, o.since,
                         o.until);
  }
  if (*o.sign)
    return sign_command(o.config_path, o.consumer, o.sign_path, o.ttl, o.client, o.bind_format);
  if (*o.keygen)
    return o.encryption_key_id.empty() ? keygen(o.consumer)
                                       : encryption_keygen(o.encryption_key_id);
  if (*o.cache) return cache_command(o.admin, o.config_path, bool(*o.purge), o.account, o.sid);

  auto cfg = load_or_report(o.config_path);
  if (!cfg) return 1;
  if (*o.check) return check_config(*cfg);
  recgate::logging::init(cfg->log);
  int code = recgate::run_server(*cfg, o.config_path);
  recgate::logging::shutdown();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"recgate: a caching, authenticated gateway for SignalWire call recordings"};
  app.set_version_flag("--version", "recgate " + std::string(recgate::build::version()) + " (" +
                                        std::string(recgate::build::revision()) + ")");
  app.require_subcommand(1);
  command_line options;
  add_serve_and_check(app, options);
  add_keygen(app, options);
  add_cache(app, options);
  add_sign(app, options);
  add_audit(app, options);
  CLI11_PARSE(app, argc, argv);
  return run(options);
}
