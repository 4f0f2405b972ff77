// recgate's command line: serve, check-config, keygen, cache stats|purge.
//
// Exit codes: 0 success; 1 the configuration is invalid or the server could not start;
// 2 (or CLI11's own codes, above 100) a command-line usage error.
//
// The request path, in the order a request takes it: server.cpp (listener, threads) →
// session.cpp (HTTP/1.1, limits) → router.cpp (path → recording_request) → access.cpp (who is
// asking) → recording_handler.cpp (response) → upstream_client.cpp (SignalWire).
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "config/load.hpp"
#include "proxy/access.hpp"
#include "proxy/admin_client.hpp"
#include "proxy/signing.hpp"
#include "config/uuid.hpp"
#include "proxy/logging.hpp"
#include "proxy/server.hpp"

namespace {

std::optional<recgate::config::config> load_or_report(const std::string& path) {
  auto result = recgate::config::load_from_file(path, recgate::config::process_env());
  if (!result.value) {
    std::cerr << "recgate: invalid configuration " << path << ":\n";
    for (const auto& e : result.errors) std::cerr << "  - " << e.to_string() << "\n";
  }
  return result.value;
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
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto minted = recgate::mint_signed_url(cfg->consumers, cfg->signing_keys,
                                         {consumer, path, *lifetime, client, bind_format}, now);
  if (auto* e = std::get_if<recgate::signing_error>(&minted)) {
    std::cerr << "recgate: " << e->message << "\n";
    return e->status == 400 ? 2 : 1;
  }
  std::cout << std::get<recgate::signed_url>(minted).url << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"recgate: a caching, authenticated gateway for SignalWire call recordings"};
  app.set_version_flag("--version", "recgate 0.1.0");
  app.require_subcommand(1);

  std::string config_path;
  auto* serve = app.add_subcommand("serve", "Run the gateway");
  serve->add_option("--config,-c", config_path, "TOML configuration file")->required();
  auto* check = app.add_subcommand("check-config", "Validate a configuration and exit");
  check->add_option("--config,-c", config_path, "TOML configuration file")->required();
  std::string consumer;
  auto* gen = app.add_subcommand("keygen", "Print a new consumer key and its config entry");
  gen->add_option("--consumer", consumer, "Consumer id")->required();

  std::string admin = "127.0.0.1:9090", account, sid;
  auto* cache = app.add_subcommand("cache", "Cache statistics and purge, through the admin listener");
  cache->require_subcommand(1);
  auto* stats = cache->add_subcommand("stats", "Print objects, bytes and hit counters");
  auto* purge = cache->add_subcommand("purge", "Remove every cached format of one recording");
  for (auto* sub : {stats, purge}) {
    sub->add_option("--config,-c", config_path, "TOML configuration (for admin.listen)");
    sub->add_option("--admin", admin, "The admin listener, when no config is given");
  }
  purge->add_option("--account", account, "AccountSid")->required();
  purge->add_option("--sid", sid, "Recording Sid")->required();

  std::string sign_path, ttl = "10m", client;
  bool bind_format = false;
  auto* sign = app.add_subcommand("sign", "Print a signed, expiring URL for one recording");
  sign->add_option("--config,-c", config_path, "TOML configuration file")->required();
  sign->add_option("--consumer", consumer, "The issuing consumer (needs the sign scope)")->required();
  sign->add_option("--path", sign_path, "The recording's path, e.g. /api/laml/.../{Sid}.mp3")->required();
  sign->add_option("--ttl", ttl, "How long it is valid (default 10m)");
  sign->add_option("--client", client, "Bind it to this client IP address");
  sign->add_flag("--bind-format", bind_format, "Valid only for the path's format");

  CLI11_PARSE(app, argc, argv);
  if (*sign) return sign_command(config_path, consumer, sign_path, ttl, client, bind_format);

  if (*gen) return keygen(consumer);
  if (*cache) return cache_command(admin, config_path, bool(*purge), account, sid);

  auto cfg = load_or_report(config_path);
  if (!cfg) return 1;

  if (*check) {
    std::cout << "recgate: configuration OK\n"
              << "  listen      " << cfg->server.listen.to_string() << " (" << cfg->server.threads
              << " threads)\n"
              << "  upstream    " << cfg->upstream.url.to_string() << "\n"
              << "  project id  " << cfg->upstream.project_id << "\n"
              << "  api token   from " << cfg->upstream.api_token_source << "\n"
              << "  consumers   " << cfg->consumers.size() << "\n";
    return 0;
  }

  recgate::logging::init(cfg->log);
  int code = recgate::run_server(*cfg, config_path);
  recgate::logging::shutdown();
  return code;
}
