// The [[consumers]], [[signing_keys]] and [access] sections, and the consumers file.
#include <algorithm>
#include <set>

#include "config/sections.hpp"
#include "config/toml_reader.hpp"
#include "util/uuid.hpp"

namespace recgate::config::sections {

namespace {

// A consumer's keys: `key_sha256` (one key, id "default") and/or [[consumers.keys]] with id and
// sha256, several during a rotation. Every hash is unique across all consumers.
void read_consumer_keys(const toml::table& t, table_reader& r, consumer_config& c,
                        std::set<std::string>& all_hashes, std::vector<error>& errors) {
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
}

// What a consumer may do and from where: scopes, AccountSids, networks, client certificates.
void read_consumer_reach(const toml::table& t, table_reader& r, consumer_config& c) {
  if (t.get("scopes") == nullptr) {
    r.fail("scopes",
           "is required: any of \"audio\", \"metadata\", \"sign\", \"admin\", \"delete\"");
  }
  r.read("scopes", c.scopes);
  for (const auto& scope : c.scopes) {
    if (scope != scope_audio && scope != scope_metadata && scope != scope_sign &&
        scope != scope_admin && scope != scope_delete) {
      r.fail("scopes", "unknown scope \"" + scope + "\" (audio, metadata, sign, admin, delete)");
    }
  }
  if (t.get("accounts") == nullptr) {
    r.fail("accounts", "is required: the AccountSids this consumer may read, or [\"*\"]");
  }
  std::vector<std::string> accounts;
  r.read("accounts", accounts);
  for (const auto& a : accounts) {
    if (a == "*")
      c.accounts.push_back(a);
    else if (auto u = normalize_uuid(a))
      c.accounts.push_back(*u);
    else
      r.fail("accounts", "\"" + a + "\" is neither an AccountSid (UUID) nor \"*\"");
  }
  std::vector<std::string> networks;
  r.read("networks", networks);
  for (const auto& n : networks) {
    if (auto parsed = parse_cidr(n))
      c.networks.push_back(*parsed);
    else
      r.fail("networks", "\"" + n + "\" is not an address or network (\"10.0.0.0/8\", \"::1\")");
  }
  r.read("certificates", c.certificates);
  for (const auto& id : c.certificates) {
    bool known = id.starts_with("CN=") || id.starts_with("DNS:") || id.starts_with("URI:") ||
                 id.starts_with("email:");
    if (!known || id.find('=') == id.size() - 1 || id.back() == ':') {
      r.fail("certificates", "\"" + id + "\" must be CN=name, DNS:host, URI:uri or email:addr");
    }
  }
}

// A number that must satisfy `valid`; otherwise `message` is the key's error.
template <class Valid>
void read_number(table_reader& r, std::string_view name, double& out, Valid valid,
                 const char* message) {
  auto* n = r.get(name);
  if (n == nullptr) return;
  if (auto v = n->value<double>(); v && valid(*v))
    out = *v;
  else
    r.fail(name, message);
}

// A consumer's rate limits: requests a second with a burst, and bytes a second.
void read_consumer_limits(table_reader& r, consumer_config& c) {
  read_number(
      r, "rate_per_second", c.rate_per_second,
      [](double v) { return v == 0 || (v >= 0.001 && v <= 1e9); },
      "must be 0 (no limit) or between 0.001 and 1e9");
  read_number(
      r, "burst", c.burst, [](double v) { return v >= 1 && v <= 1e9; },
      "must be a number between 1 and 1e9");
  if (c.rate_per_second > 0 && c.burst == 0) c.burst = std::max(1.0, c.rate_per_second);
  read_number(
      r, "bytes_per_second", c.bytes_per_second,
      [](double v) { return v == 0 || (v >= 1024 && v <= 1e12); },
      "must be 0 (no limit) or between 1024 and 1e12");
}

// One [[consumers]] entry.
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
  read_consumer_keys(t, r, c, all_hashes, errors);
  read_consumer_reach(t, r, c);
  r.read("enabled", c.enabled);
  read_consumer_limits(r, c);
}

}  // namespace

void load_consumers(const toml::table& root, std::vector<consumer_config>& out,
                    std::vector<error>& errors, const std::string& key_prefix) {
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

}  // namespace recgate::config::sections
