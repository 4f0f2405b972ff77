// Loads the TOML configuration with toml++, applies environment overrides, resolves secrets and
// validates. Every problem is collected with the key it concerns, so an operator sees them all.
#include "config/load.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "config/encryption_keys.hpp"
#include "util/uuid.hpp"

namespace recgate::config {

std::string error::to_string() const { return key.empty() ? message : key + ": " + message; }

env_lookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

namespace {

constexpr std::string_view token_env_default = "SIGNALWIRE_API_TOKEN";

// Reads typed values out of one TOML table, recording errors under dotted key names.
class table_reader {
 public:
  table_reader(const toml::table* table, std::string prefix, std::vector<error>& errors)
      : table_(table), prefix_(std::move(prefix)), errors_(errors) {}

  std::string key(std::string_view name) const {
    return prefix_.empty() ? std::string(name) : prefix_ + "." + std::string(name);
  }
  void fail(std::string_view name, std::string message) {
    errors_.push_back({key(name), std::move(message)});
  }

  // Every key in the table must be one of `known`; `forbidden` keys get their own message.
  void reject_unknown(std::initializer_list<std::string_view> known) {
    if (table_ == nullptr) return;
    for (auto&& [k, node] : *table_) {
      std::string_view name = k.str();
      bool ok = false;
      for (auto kn : known) ok = ok || kn == name;
      if (!ok) fail(name, "unknown key");
    }
  }

  const toml::node* get(std::string_view name) const {
    return table_ == nullptr ? nullptr : table_->get(name);
  }

  void read(std::string_view name, std::string& out) {
    if (auto* n = get(name)) {
      if (auto v = n->value<std::string>(); v && n->is_string())
        out = *v;
      else
        fail(name, "must be a string");
    }
  }
  void read(std::string_view name, bool& out) {
    if (auto* n = get(name)) {
      if (n->is_boolean())
        out = *n->value<bool>();
      else
        fail(name, "must be true or false");
    }
  }
  template <class Int>
  void read_int(std::string_view name, Int& out, std::int64_t min, std::int64_t max) {
    if (auto* n = get(name)) {
      if (!n->is_integer()) return fail(name, "must be an integer");
      auto v = *n->value<std::int64_t>();
      if (v < min || v > max) {
        return fail(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      }
      out = static_cast<Int>(v);
    }
  }
  // A duration is a string with a unit ("250ms", "5s", "2m", "1h", "1d") or whole seconds.
  void read(std::string_view name, duration& out) {
    if (auto* n = get(name)) {
      // Whole seconds go through parse_duration too, so both forms share its overflow bound.
      std::optional<duration> d;
      if (n->is_integer() && *n->value<std::int64_t>() >= 0) {
        d = parse_duration(std::to_string(*n->value<std::int64_t>()) + "s");
      } else if (n->is_string()) {
        d = parse_duration(*n->value<std::string>());
      }
      if (d) {
        out = *d;
      } else {
        fail(name, "must be a duration such as \"250ms\", \"5s\", \"2m\", \"1h\" or \"1d\"");
      }
    }
  }
  // An array of strings (replaces `out` when present).
  void read(std::string_view name, std::vector<std::string>& out) {
    auto* n = get(name);
    if (n == nullptr) return;
    auto* arr = n->as_array();
    if (arr == nullptr) return fail(name, "must be an array of strings");
    std::vector<std::string> values;
    for (auto& item : *arr) {
      auto v = item.value<std::string>();
      if (!v || !item.is_string()) return fail(name, "must be an array of strings");
      values.push_back(*v);
    }
    out = std::move(values);
  }
  // A timeout: a duration that must be greater than zero.
  void read_timeout(std::string_view name, duration& out) {
    read(name, out);
    if (out.count() <= 0) fail(name, "must be greater than zero");
  }

 private:
  const toml::table* table_;
  std::string prefix_;
  std::vector<error>& errors_;
};

const toml::table* sub_table(const toml::table& root, std::string_view name,
                             std::vector<error>& errors) {
  auto* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) {
    errors.push_back({std::string(name), "must be a table ([" + std::string(name) + "])"});
    return nullptr;
  }
  return n->as_table();
}

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

void load_server(const toml::table* t, server_config& s, const env_lookup& env,
                 std::vector<error>& errors) {
  table_reader r(t, "server", errors);
  r.reject_unknown({"listen", "plain", "threads", "max_header_bytes", "header_timeout",
                    "idle_timeout", "write_timeout", "max_connections",
                    "max_requests_per_connection", "drain_timeout"});
  r.read("plain", s.plain);
  r.read_int("max_connections", s.max_connections, 0, 10000000);
  r.read_int("max_requests_per_connection", s.max_requests_per_connection, 0, 100000000);
  r.read_timeout("drain_timeout", s.drain_timeout);
  std::string listen = s.listen.to_string();
  std::string listen_key = "listen";
  r.read("listen", listen);
  if (auto v = env("RECGATE_LISTEN")) {
    listen = *v;
    listen_key = "listen (from RECGATE_LISTEN)";
  }
  if (auto ep = parse_endpoint(listen))
    s.listen = *ep;
  else
    r.fail(listen_key, "must be host:port, for example \"127.0.0.1:8080\"");
  r.read_int("threads", s.threads, 0, 256);
  // At most 64 KiB: the HTTP parser's fields hold values of up to 65,533 bytes, and no value in a
  // head of this size can be longer.
  r.read_int("max_header_bytes", s.max_header_bytes, 1024, server_config::max_header_bytes_limit);
  r.read_timeout("header_timeout", s.header_timeout);
  r.read_timeout("idle_timeout", s.idle_timeout);
  r.read_timeout("write_timeout", s.write_timeout);
  if (s.threads == 0) s.threads = std::max(1u, std::thread::hardware_concurrency());
}

void load_tls(const toml::table* t, tls_config& tls, std::vector<error>& errors) {
  table_reader r(t, "tls", errors);
  r.reject_unknown(
      {"listen", "cert_file", "key_file", "client_ca_file", "require_client_certificate"});
  if (t == nullptr) return;
  std::string listen = tls.listen.to_string();
  r.read("listen", listen);
  if (auto ep = parse_endpoint(listen))
    tls.listen = *ep;
  else
    r.fail("listen", "must be host:port, for example \"0.0.0.0:8443\"");
  r.read("cert_file", tls.cert_file);
  r.read("key_file", tls.key_file);
  r.read("client_ca_file", tls.client_ca_file);
  r.read("require_client_certificate", tls.require_client_certificate);
  if (tls.cert_file.empty()) r.fail("cert_file", "is required for the TLS listener");
  if (tls.key_file.empty()) r.fail("key_file", "is required for the TLS listener");
  for (auto [name, path] : {std::pair{"cert_file", &tls.cert_file},
                            {"key_file", &tls.key_file},
                            {"client_ca_file", &tls.client_ca_file}}) {
    if (!path->empty() && !std::ifstream(*path)) r.fail(name, "cannot read " + *path);
  }
  if (tls.require_client_certificate && tls.client_ca_file.empty()) {
    r.fail("require_client_certificate", "needs client_ca_file to verify certificates with");
  }
}

void load_upstream(const toml::table* t, upstream_config& u, const env_lookup& env,
                   std::vector<error>& errors) {
  table_reader r(t, "upstream", errors);
  if (t == nullptr) errors.push_back({"upstream", "missing table [upstream]"});
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

  std::string token_env(token_env_default);
  std::string token_file;
  r.read("api_token_env", token_env);
  r.read("api_token_file", token_file);
  // SIGNALWIRE_API_TOKEN always wins, then the configured variable, then the file.
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

// One [[consumers]] entry. Keys: `key_sha256` (one key, id "default") and/or [[consumers.keys]]
// with id and sha256, several during a rotation.
void load_consumer(const toml::table& t, const std::string& prefix, consumer_config& c,
                   std::set<std::string>& all_hashes, std::vector<error>& errors) {
  table_reader r(&t, prefix, errors);
  r.reject_unknown({"id", "key_sha256", "keys", "scopes", "accounts", "networks", "enabled",
                    "rate_per_second", "burst", "bytes_per_second", "certificates"});
  r.read("id", c.id);
  if (c.id.empty())
    r.fail("id", "is required");
  else if (c.id.find_first_of(":\r\n\" ") != std::string::npos) {
    r.fail("id", "must not contain ':', spaces, quotes or line breaks");
  }

  auto add_key = [&](const std::string& where, consumer_key key) {
    if (key.sha256.size() != 64 || !is_lower_hex(key.sha256)) {
      errors.push_back({where,
                        "must be 64 lower-case hex characters (the SHA-256 of the key; "
                        "`recgate keygen` prints one)"});
    } else if (!all_hashes.insert(key.sha256).second) {
      errors.push_back({where, "the same key hash is configured twice"});
    } else {
      c.keys.push_back(std::move(key));
    }
  };
  std::string single;
  r.read("key_sha256", single);
  if (!single.empty()) add_key(r.key("key_sha256"), {"default", single});
  if (auto* n = t.get("keys")) {
    auto* arr = n->as_array();
    if (arr == nullptr) r.fail("keys", "must be an array of tables ([[consumers.keys]])");
    for (std::size_t k = 0; arr && k < arr->size(); ++k) {
      std::string kp = r.key("keys") + "[" + std::to_string(k) + "]";
      auto* kt = (*arr)[k].as_table();
      if (kt == nullptr) {
        errors.push_back({kp, "must be a table with id and sha256"});
        continue;
      }
      table_reader kr(kt, kp, errors);
      kr.reject_unknown({"id", "sha256"});
      consumer_key key;
      kr.read("id", key.id);
      kr.read("sha256", key.sha256);
      if (key.id.empty()) kr.fail("id", "is required");
      add_key(kr.key("sha256"), std::move(key));
    }
  }
  if (single.empty() && !t.get("keys") && !t.get("certificates")) {
    r.fail("key_sha256",
           "a consumer needs a key (key_sha256 or [[consumers.keys]]) or "
           "client certificates");
  }

  auto read_list = [&](std::string_view name, std::vector<std::string>& out) {
    auto* n = t.get(name);
    if (n == nullptr) return false;
    auto* arr = n->as_array();
    if (arr == nullptr) {
      r.fail(name, "must be an array of strings");
      return true;
    }
    for (auto& item : *arr) {
      if (auto v = item.value<std::string>(); v && item.is_string())
        out.push_back(*v);
      else
        r.fail(name, "must be an array of strings");
    }
    return true;
  };

  if (!read_list("scopes", c.scopes)) {
    r.fail("scopes", "is required: any of \"audio\", \"metadata\", \"sign\", \"admin\"");
  }
  for (const auto& scope : c.scopes) {
    if (scope != scope_audio && scope != scope_metadata && scope != scope_sign &&
        scope != scope_admin) {
      r.fail("scopes", "unknown scope \"" + scope + "\" (audio, metadata, sign, admin)");
    }
  }
  std::vector<std::string> accounts;
  if (!read_list("accounts", accounts)) {
    r.fail("accounts", "is required: the AccountSids this consumer may read, or [\"*\"]");
  }
  for (const auto& a : accounts) {
    if (a == "*")
      c.accounts.push_back(a);
    else if (auto u = normalize_uuid(a))
      c.accounts.push_back(*u);
    else
      r.fail("accounts", "\"" + a + "\" is neither an AccountSid (UUID) nor \"*\"");
  }
  std::vector<std::string> networks;
  read_list("networks", networks);
  for (const auto& n : networks) {
    if (auto parsed = parse_cidr(n))
      c.networks.push_back(*parsed);
    else
      r.fail("networks", "\"" + n + "\" is not an address or network (\"10.0.0.0/8\", \"::1\")");
  }
  r.read("enabled", c.enabled);
  if (auto* n = t.get("rate_per_second")) {
    if (auto v = n->value<double>(); v && (*v == 0 || (*v >= 0.001 && *v <= 1e9))) {
      c.rate_per_second = *v;
    } else {
      r.fail("rate_per_second", "must be 0 (no limit) or between 0.001 and 1e9");
    }
  }
  if (auto* n = t.get("burst")) {
    if (auto v = n->value<double>(); v && *v >= 1 && *v <= 1e9)
      c.burst = *v;
    else
      r.fail("burst", "must be a number between 1 and 1e9");
  }
  if (c.rate_per_second > 0 && c.burst == 0) c.burst = std::max(1.0, c.rate_per_second);
  if (auto* n = t.get("bytes_per_second")) {
    if (auto v = n->value<double>(); v && (*v == 0 || (*v >= 1024 && *v <= 1e12))) {
      c.bytes_per_second = *v;
    } else {
      r.fail("bytes_per_second", "must be 0 (no limit) or between 1024 and 1e12");
    }
  }
  read_list("certificates", c.certificates);
  for (const auto& id : c.certificates) {
    bool known = id.starts_with("CN=") || id.starts_with("DNS:") || id.starts_with("URI:") ||
                 id.starts_with("email:");
    if (!known || id.find('=') == id.size() - 1 || id.back() == ':') {
      r.fail("certificates", "\"" + id + "\" must be CN=name, DNS:host, URI:uri or email:addr");
    }
  }
}

void load_consumers(const toml::table& root, std::vector<consumer_config>& out,
                    std::vector<error>& errors, std::string key_prefix = "") {
  auto* n = root.get("consumers");
  if (n == nullptr) return;
  auto* arr = n->as_array();
  if (arr == nullptr) {
    errors.push_back({"consumers", "must be an array of tables ([[consumers]])"});
    return;
  }
  std::set<std::string> ids, hashes;
  for (const auto& c : out) {
    ids.insert(c.id);
    for (const auto& k : c.keys) hashes.insert(k.sha256);
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string prefix = key_prefix + "consumers[" + std::to_string(i) + "]";
    auto* t = (*arr)[i].as_table();
    if (t == nullptr) {
      errors.push_back({prefix, "must be a table"});
      continue;
    }
    consumer_config c;
    load_consumer(*t, prefix, c, hashes, errors);
    if (!c.id.empty() && !ids.insert(c.id).second) {
      errors.push_back({prefix + ".id", "duplicate consumer id \"" + c.id + "\""});
    }
    out.push_back(std::move(c));
  }
}

void load_signing_keys(const toml::table& root, std::vector<signing_key>& out,
                       const env_lookup& env, std::vector<error>& errors) {
  auto* n = root.get("signing_keys");
  if (n == nullptr) return;
  auto* arr = n->as_array();
  if (arr == nullptr) {
    errors.push_back({"signing_keys", "must be an array of tables ([[signing_keys]])"});
    return;
  }
  std::set<std::string> ids;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string prefix = "signing_keys[" + std::to_string(i) + "]";
    auto* t = (*arr)[i].as_table();
    if (t == nullptr) {
      errors.push_back({prefix, "must be a table"});
      continue;
    }
    table_reader r(t, prefix, errors);
    r.reject_unknown({"id", "secret_env", "secret_file", "secret"});
    if (r.get("secret"))
      r.fail("secret",
             "secrets are not accepted in the config file; use "
             "secret_env or secret_file");
    signing_key key;
    std::string from_env, from_file;
    r.read("id", key.id);
    r.read("secret_env", from_env);
    r.read("secret_file", from_file);
    if (key.id.empty())
      r.fail("id", "is required");
    else if (!ids.insert(key.id).second)
      r.fail("id", "duplicate signing key id");
    if (!from_env.empty()) {
      if (auto v = env(from_env))
        key.secret = *v;
      else
        r.fail("secret_env", "the variable " + from_env + " is not set");
    } else if (!from_file.empty()) {
      if (auto v = read_secret_file(from_file))
        key.secret = *v;
      else
        r.fail("secret_file", "cannot read " + from_file);
    } else {
      r.fail("secret_env", "a signing key needs secret_env or secret_file");
    }
    if (!key.secret.empty() && key.secret.size() < 32) {
      r.fail(from_env.empty() ? "secret_file" : "secret_env",
             "the secret must be at least 32 bytes");
    }
    out.push_back(std::move(key));
  }
}

void load_access(const toml::table* t, access_config& a, std::vector<error>& errors) {
  table_reader r(t, "access", errors);
  r.reject_unknown({"public_audio", "consumers_file", "revocations_file", "signed_cookies"});
  r.read("public_audio", a.public_audio);
  r.read("signed_cookies", a.signed_cookies);
  r.read("consumers_file", a.consumers_file);
  r.read("revocations_file", a.revocations_file);
}

void require_consumers(const std::vector<consumer_config>& consumers, std::vector<error>& errors) {
  if (consumers.empty()) {
    errors.push_back({"consumers",
                      "at least one [[consumers]] entry is required (in the config "
                      "or access.consumers_file): without one nobody could use the "
                      "gateway"});
  }
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The [[consumers]] of a consumers file, appended to `out` (ids and hashes unique across both).
void load_consumers_from(const std::string& path, std::vector<consumer_config>& out,
                         std::vector<error>& errors) {
  auto text = read_text(path);
  if (!text) {
    errors.push_back({"access.consumers_file", "cannot read " + path});
    return;
  }
  toml::table root;
  try {
    root = toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    errors.push_back({"access.consumers_file", path + ":" + std::to_string(e.source().begin.line) +
                                                   ": " + std::string(e.description())});
    return;
  }
  for (auto&& [k, node] : root) {
    if (k.str() != "consumers")
      errors.push_back({path + ": " + std::string(k.str()), "unknown key"});
  }
  load_consumers(root, out, errors, path + ": ");
}

// cache.encryption_key_file / encryption_key_env: the keys, or errors that never quote them.
void load_encryption_keys(table_reader& r, cache_config& c, const env_lookup& env) {
  if (r.get("encryption_key")) {
    r.fail("encryption_key",
           "secrets are not accepted in the config file; use "
           "encryption_key_file or encryption_key_env");
  }
  std::string from_env;
  r.read("encryption_key_file", c.encryption_key_file);
  r.read("encryption_key_env", from_env);
  if (c.encryption_key_file.empty() && from_env.empty()) return;
  if (!c.encryption_key_file.empty() && !from_env.empty()) {
    return r.fail("encryption_key_env", "give encryption_key_file or encryption_key_env, not both");
  }
  const char* name = from_env.empty() ? "encryption_key_file" : "encryption_key_env";
  std::optional<std::string> text;
  if (!from_env.empty()) {
    text = env(from_env);
    if (!text) return r.fail(name, "the variable " + from_env + " is not set");
    c.encryption_key_source = "env " + from_env;
  } else {
    text = read_secret_file(c.encryption_key_file);
    if (!text) return r.fail(name, "cannot read " + c.encryption_key_file);
    c.encryption_key_source = "file " + c.encryption_key_file;
  }
  auto parsed = parse_encryption_keys(*text);
  if (!parsed.error.empty()) return r.fail(name, c.encryption_key_source + ": " + parsed.error);
  c.encryption_keys = std::move(parsed.keys);
  if (c.path.empty()) r.fail(name, "encryption needs the cache (cache.path)");
}

void load_cache(const toml::table* t, cache_config& c, const env_lookup& env,
                std::vector<error>& errors) {
  table_reader r(t, "cache", errors);
  r.reject_unknown({"path", "chunk_size", "block_cache_bytes", "cache_control", "max_bytes",
                    "min_free_bytes", "max_age", "negative_ttl", "metadata_ttl", "stale_if_error",
                    "encryption_key_file", "encryption_key_env", "encryption_key"});
  r.read("path", c.path);
  r.read_int("max_bytes", c.max_bytes, 0, std::numeric_limits<std::int64_t>::max());
  r.read_int("min_free_bytes", c.min_free_bytes, 0, std::numeric_limits<std::int64_t>::max());
  r.read("max_age", c.max_age);
  r.read("negative_ttl", c.negative_ttl);
  r.read("metadata_ttl", c.metadata_ttl);
  r.read("stale_if_error", c.stale_if_error);
  if (c.stale_if_error.count() > 0 && c.metadata_ttl.count() == 0) {
    r.fail("stale_if_error", "needs metadata_ttl: only kept metadata can be served stale");
  }
  if (c.max_age.count() > 0 && c.max_age < std::chrono::seconds(1)) {
    r.fail("max_age", "must be at least 1s (or 0 for no limit)");
  }
  r.read_int("chunk_size", c.chunk_size, 4096, 16 << 20);
  r.read_int("block_cache_bytes", c.block_cache_bytes, 1 << 20, std::int64_t(1) << 40);
  r.read("cache_control", c.cache_control);
  if (c.cache_control.find_first_of("\r\n") != std::string::npos) {
    r.fail("cache_control", "must not contain line breaks");
  }
  load_encryption_keys(r, c, env);
}

void load_admin(const toml::table* t, admin_config& a, std::vector<error>& errors) {
  table_reader r(t, "admin", errors);
  r.reject_unknown({"listen", "enabled", "require_key", "exempt_paths"});
  std::string listen = a.listen.to_string();
  r.read("listen", listen);
  r.read("enabled", a.enabled);
  r.read("require_key", a.require_key);
  r.read("exempt_paths", a.exempt_paths);
  for (const auto& path : a.exempt_paths) {
    if (path != "/healthz" && path != "/readyz" && path != "/metrics" && path != "/cache/stats") {
      r.fail("exempt_paths",
             "\"" + path +
                 "\" cannot be exempt: only \"/healthz\", \"/readyz\", "
                 "\"/metrics\" and \"/cache/stats\" (reads that change nothing) can");
    }
  }
  if (auto ep = parse_endpoint(listen))
    a.listen = *ep;
  else
    r.fail("listen", "must be host:port, for example \"127.0.0.1:9090\"");
}

void load_log(const toml::table* t, log_config& l, std::vector<error>& errors) {
  table_reader r(t, "log", errors);
  r.reject_unknown({"level", "format"});
  r.read("level", l.level);
  r.read("format", l.format);
  static const std::set<std::string> levels{"trace", "debug",    "info", "warn",
                                            "error", "critical", "off"};
  if (!levels.contains(l.level)) {
    r.fail("level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  if (l.format != "text" && l.format != "json") r.fail("format", "must be \"text\" or \"json\"");
}

// "http://host:port/path?query" into its base and its target ("/" when it has no path).
std::optional<std::pair<base_url, std::string>> split_url(std::string_view text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  auto slash = text.find_first_of("/?", sep + 3);
  auto base = parse_base_url(text.substr(0, slash));
  if (!base) return std::nullopt;
  std::string target = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (target.front() != '/') target.insert(0, "/");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return std::nullopt;
  }
  return std::pair{*base, target};
}

void load_callbacks(const toml::table* t, callbacks_config& c, const env_lookup& env,
                    std::vector<error>& errors) {
  table_reader r(t, "callbacks", errors);
  if (t == nullptr) return;
  r.reject_unknown({"path", "signing_key_env", "signing_key_file", "prefetch_formats",
                    "concurrency", "queue_limit", "forward_url", "forward_timeout", "public_url",
                    "signing_key"});
  if (r.get("signing_key")) {
    r.fail("signing_key",
           "secrets are not accepted in the config file; use signing_key_env or "
           "signing_key_file");
  }
  r.read("path", c.path);
  if (c.path.empty()) {
    r.fail("path", "is required, for example \"/callbacks/recording-status\"");
  } else if (c.path.front() != '/' || c.path.find_first_of("?#% \t\r\n") != std::string::npos) {
    r.fail("path", "must be a path starting with '/', without query, '%' or spaces");
  } else if (c.path == "/v1/signed-urls" || c.path.starts_with("/api/") ||
             c.path.starts_with("/2010-04-01/")) {
    r.fail("path",
           "must not overlap the gateway's own paths (/v1/signed-urls, /api/..., "
           "/2010-04-01/...)");
  }

  std::string from_env, from_file;
  r.read("signing_key_env", from_env);
  r.read("signing_key_file", from_file);
  if (!from_env.empty()) {
    if (auto v = env(from_env)) {
      c.signing_key = *v;
      c.signing_key_source = "env " + from_env;
    } else {
      r.fail("signing_key_env", "the variable " + from_env + " is not set");
    }
  } else if (!from_file.empty()) {
    if (auto v = read_secret_file(from_file)) {
      c.signing_key = *v;
      c.signing_key_source = "file " + from_file;
    } else {
      r.fail("signing_key_file", "cannot read " + from_file);
    }
  } else {
    r.fail("signing_key_env",
           "callbacks need the signing key: signing_key_env or "
           "signing_key_file");
  }
  if (!c.signing_key_source.empty() && c.signing_key.empty()) {
    r.fail(from_env.empty() ? "signing_key_file" : "signing_key_env", "the signing key is empty");
  }

  if (auto* n = r.get("prefetch_formats")) {
    c.prefetch_formats.clear();
    auto* arr = n->as_array();
    if (arr == nullptr) r.fail("prefetch_formats", "must be an array of \"wav\" and \"mp3\"");
    for (std::size_t i = 0; arr && i < arr->size(); ++i) {
      auto v = (*arr)[i].value<std::string>();
      if (!v || !(*arr)[i].is_string() || (*v != "wav" && *v != "mp3")) {
        r.fail("prefetch_formats", "must be an array of \"wav\" and \"mp3\"");
      } else if (std::find(c.prefetch_formats.begin(), c.prefetch_formats.end(), *v) ==
                 c.prefetch_formats.end()) {
        c.prefetch_formats.push_back(*v);
      }
    }
  }
  r.read_int("concurrency", c.concurrency, 1, 64);
  r.read_int("queue_limit", c.queue_limit, 0, 100000);
  r.read_timeout("forward_timeout", c.forward_timeout);
  r.read("forward_url", c.forward_url);
  if (!c.forward_url.empty()) {
    auto parts = split_url(c.forward_url);
    if (!parts || parts->first.tls()) {
      r.fail("forward_url",
             "must be an http:// URL, for example "
             "\"http://10.0.0.5:8000/hooks/recording\"");
    } else {
      c.forward_base = parts->first;
      c.forward_target = parts->second;
    }
  }
  r.read("public_url", c.public_url);
  if (!c.public_url.empty()) {
    auto parts = split_url(c.public_url);
    if (!parts || parts->second.find('?') != std::string::npos) {
      r.fail("public_url",
             "must be an http:// or https:// URL without a query, for example "
             "\"https://recordings.example.com\"");
    }
    while (c.public_url.ends_with('/')) c.public_url.pop_back();
  }
}

void load_audit(const toml::table* t, audit_config& a, std::vector<error>& errors) {
  table_reader r(t, "audit", errors);
  r.reject_unknown({"file", "flush_interval"});
  r.read("file", a.file);
  r.read_timeout("flush_interval", a.flush_interval);
  if (t != nullptr && a.file.empty()) r.fail("file", "is required in [audit]");
}

}  // namespace

load_result load_from_string(std::string_view toml_text, std::string_view file_name,
                             const env_lookup& env) {
  load_result result;
  toml::table root;
  try {
    root = toml::parse(toml_text, file_name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    result.errors.push_back({"", std::string(file_name) + ":" + std::to_string(where.line) + ":" +
                                     std::to_string(where.column) + ": " +
                                     std::string(e.description())});
    return result;
  }

  auto& errors = result.errors;
  for (auto&& [k, node] : root) {
    std::string_view name = k.str();
    if (name != "server" && name != "tls" && name != "upstream" && name != "consumers" &&
        name != "access" && name != "signing_keys" && name != "cache" && name != "admin" &&
        name != "log" && name != "callbacks" && name != "audit") {
      errors.push_back({std::string(name), "unknown key"});
    }
  }
  config c;
  load_server(sub_table(root, "server", errors), c.server, env, errors);
  load_tls(sub_table(root, "tls", errors), c.tls, errors);
  if (!c.server.plain && !c.tls.enabled()) {
    errors.push_back({"server.plain", "false needs a [tls] listener: otherwise nothing listens"});
  }
  load_upstream(sub_table(root, "upstream", errors), c.upstream, env, errors);
  load_consumers(root, c.consumers, errors);
  c.own_consumers = c.consumers.size();
  load_access(sub_table(root, "access", errors), c.access, errors);
  if (!c.access.consumers_file.empty())
    load_consumers_from(c.access.consumers_file, c.consumers, errors);
  require_consumers(c.consumers, errors);
  load_signing_keys(root, c.signing_keys, env, errors);
  load_cache(sub_table(root, "cache", errors), c.cache, env, errors);
  load_admin(sub_table(root, "admin", errors), c.admin, errors);
  load_log(sub_table(root, "log", errors), c.log, errors);
  load_callbacks(sub_table(root, "callbacks", errors), c.callbacks, env, errors);
  if (c.callbacks.enabled() && !c.callbacks.prefetch_formats.empty() && !c.cache.enabled()) {
    errors.push_back({"callbacks.prefetch_formats",
                      "prefetching needs the cache (cache.path); "
                      "use [] to only forward callbacks"});
  }
  load_audit(sub_table(root, "audit", errors), c.audit, errors);
  if (errors.empty()) result.value = std::move(c);
  return result;
}

consumers_result load_consumers_file(const std::string& path,
                                     const std::vector<consumer_config>& own) {
  consumers_result result;
  result.consumers = own;
  load_consumers_from(path, result.consumers, result.errors);
  require_consumers(result.consumers, result.errors);
  if (!result.errors.empty()) result.consumers.clear();
  return result;
}

load_result load_from_file(const std::string& path, const env_lookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load_result r;
    r.errors.push_back({"", "cannot read config file " + path});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_from_string(ss.str(), path, env);
}

}  // namespace recgate::config
