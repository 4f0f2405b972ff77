// The [upstream] section: SignalWire, its credentials, pool, retries and trust.
#include <fstream>

#include "config/sections.hpp"
#include "config/toml_reader.hpp"

namespace recgate::config::sections {

namespace {

constexpr std::string_view token_env_default = "SIGNALWIRE_API_TOKEN";

// Where SignalWire is: base_url (RECGATE_UPSTREAM_URL wins) and project_id
// (SIGNALWIRE_PROJECT_ID wins).
void read_origin(table_reader& r, upstream_config& u, const env_lookup& env) {
  std::string url;
  std::string url_key = "base_url";
  r.read("base_url", url);
  if (auto v = env("RECGATE_UPSTREAM_URL")) {
    url = *v;
    url_key = "base_url (from RECGATE_UPSTREAM_URL)";
  }
  if (url.empty())
    r.fail(url_key, "is required, for example \"https://example.signalwire.com\"");
  else if (auto parsed = parse_base_url(url))
    u.url = *parsed;
  else
    r.fail(url_key, "must be an http:// or https:// URL with a host and no path");

  r.read("project_id", u.project_id);
  if (auto v = env("SIGNALWIRE_PROJECT_ID")) u.project_id = *v;
  if (u.project_id.empty())
    r.fail("project_id", "is required (or set SIGNALWIRE_PROJECT_ID)");
  else if (u.project_id.find_first_of(":\r\n") != std::string::npos) {
    r.fail("project_id", "must not contain ':' or line breaks");
  }
}

// The API token: SIGNALWIRE_API_TOKEN always wins, then the configured variable, then the file.
void read_api_token(table_reader& r, upstream_config& u, const env_lookup& env) {
  std::string token_env(token_env_default);
  std::string token_file;
  r.read("api_token_env", token_env);
  r.read("api_token_file", token_file);
  if (auto v = env(token_env_default)) {
    u.api_token = *v;
    u.api_token_source = "env " + std::string(token_env_default);
  } else if (auto v2 = env(token_env)) {
    u.api_token = *v2;
    u.api_token_source = "env " + token_env;
  } else if (!token_file.empty()) {
    if (auto s = read_secret_file(token_file)) {
      u.api_token = *s;
      u.api_token_source = "file " + token_file;
    } else {
      r.fail("api_token_file", "cannot read " + token_file);
    }
  }
  if (u.api_token.empty() && token_file.empty()) {
    r.fail("api_token_env",
           "the API token is not set: export " + token_env + " or set upstream.api_token_file");
  } else if (u.api_token.find_first_of("\r\n") != std::string::npos) {
    r.fail("api_token", "the token contains a line break");
  }
}

// How the gateway talks to it: timeouts, body rate, pool, retries, breaker, proxy, trust.
void read_connection_limits(table_reader& r, upstream_config& u) {
  r.read("ca_file", u.ca_file);
  r.read("verify_tls", u.verify_tls);
  r.read_timeout("connect_timeout", u.connect_timeout);
  r.read_timeout("header_timeout", u.header_timeout);
  r.read_timeout("idle_timeout", u.idle_timeout);
  r.read_int("min_body_rate", u.min_body_rate, 0, std::int64_t(1) << 40);
  r.read_timeout("body_rate_window", u.body_rate_window);
  r.read_timeout("body_timeout", u.body_timeout);
  r.read_int("max_redirects", u.max_redirects, 0, 10);
  r.read_int("buffer_bytes", u.buffer_bytes, 4096, 16 << 20);
  r.read_int("pool_size", u.pool_size, 0, 4096);
  r.read_int("retries", u.retries, 0, 10);
  r.read_timeout("retry_backoff", u.retry_backoff);
  r.read_timeout("retry_backoff_max", u.retry_backoff_max);
  r.read_int("breaker_failures", u.breaker_failures, 0, 1000);
  r.read_timeout("breaker_cooldown", u.breaker_cooldown);
  r.read("egress_proxy", u.egress_proxy);
  if (!u.egress_proxy.empty()) {
    auto proxy = parse_base_url(u.egress_proxy);
    if (!proxy || proxy->tls()) r.fail("egress_proxy", "must be an http://host:port URL");
  }
  if (!u.ca_file.empty() && !std::ifstream(u.ca_file))
    r.fail("ca_file", "cannot read " + u.ca_file);
}

}  // namespace

void load_upstream(const toml::table* t, upstream_config& u, const env_lookup& env,
                   std::vector<error>& errors, bool with_projects) {
  table_reader r(t, "upstream", errors);
  if (t == nullptr && !with_projects) errors.push_back({"upstream", "missing table [upstream]"});
  for (auto secret : {"api_token", "token", "password"}) {
    if (r.get(secret)) {
      r.fail(secret,
             "secrets are not accepted in the config file; use api_token_env or "
             "api_token_file");
    }
  }
  r.reject_unknown({"base_url",
                    "project_id",
                    "api_token_env",
                    "api_token_file",
                    "ca_file",
                    "verify_tls",
                    "connect_timeout",
                    "header_timeout",
                    "idle_timeout",
                    "min_body_rate",
                    "body_rate_window",
                    "body_timeout",
                    "max_redirects",
                    "buffer_bytes",
                    "pool_size",
                    "retries",
                    "retry_backoff",
                    "retry_backoff_max",
                    "breaker_failures",
                    "breaker_cooldown",
                    "egress_proxy",
                    "api_token",
                    "token",
                    "password"});
  // With [[projects]], [upstream] may hold only the settings common to them all.
  // (SIGNALWIRE_PROJECT_ID alone does not: it is often exported for other tools.)
  const bool names_a_project =
      r.get("base_url") || r.get("project_id") || env("RECGATE_UPSTREAM_URL");
  if (!with_projects || names_a_project) {
    read_origin(r, u, env);
    read_api_token(r, u, env);
  } else if (r.get("api_token_env") || r.get("api_token_file")) {
    r.fail(r.get("api_token_env") ? "api_token_env" : "api_token_file",
           "with [[projects]], each project names its own token (or give [upstream] a base_url "
           "and project_id: the project \"default\")");
  }
  read_connection_limits(r, u);
}

}  // namespace recgate::config::sections
